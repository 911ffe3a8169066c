"""A message in a dispatcher's hands when a rotation's relink runs goes with the old link, and
that is kept, on purpose: the old link does not open from then on (a rotation ends every link
of the old key at once, a key that leaked first of all; no link of it lives out its time), so
the relink's 检查链接重新发送 to that member says the link sent before no longer opens and holds
the one that does, and should the message in flight fail, it is written again with the new
link before it is tried again (``follow.after_failures``). The relink does not write a
message a dispatcher holds: it may be leaving now, and a message rewritten under a send
would be recorded sent with words the member never got. docs/operations.md, "Keys and
secrets". SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import sqlalchemy as sa

from notifications import follow
from notifications.links import assignment_token, verify_assignment_token
from notifications.models import Notification, NotificationKind
from notifications.relink import relink
from shuangsui import writes
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.notifications.test_stale_key import NEW_KEY, _rotate

T = Notification.__table__  # type: ignore[attr-defined]


def _notice(conn: sa.Connection, member: str, code: str) -> sa.Row:
    rows = conn.execute(sa.select(T.c.id, T.c.payload, T.c.lease_until).where(
        T.c.kind == NotificationKind.assignment.value, T.c.recipient == member)).all()  # fmt: skip
    return next(r for r in rows if r.payload["credit_code"] == code)


def test_a_message_in_flight_at_a_rotation_goes_as_it_is_and_the_relink_says_so(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, team = sorted(drawn_round(engine).items())[0]
    member = team[0]
    old = get_settings().secret_key.get_secret_value()
    held_until = datetime.now(UTC) + timedelta(minutes=5)
    with engine.begin() as conn:  # a dispatcher's, being sent
        notice = _notice(conn, member, code)
        conn.execute(sa.update(T).where(T.c.id == notice.id).values(lease_until=held_until))
    _rotate(monkeypatch)
    writes.write(engine, partial(relink, round_key=ROUND, by="李协调", reason="密钥轮换",
                                 rotate=True), what="the relink")  # fmt: skip
    old_token = assignment_token(old, ROUND, code, member)
    new_token = assignment_token(NEW_KEY, ROUND, code, member)
    assert not verify_assignment_token(NEW_KEY, ROUND, code, member, old_token)  # dead now
    with engine.connect() as conn:
        assert _notice(conn, member, code).payload == notice.payload  # left as it goes
        said = [r.payload for r in conn.execute(sa.select(T.c.payload).where(
            T.c.kind == NotificationKind.link_reissued.value, T.c.recipient == member))
            if r.payload["credit_code"] == code]  # fmt: skip
    assert len(said) == 1 and said[0]["earlier"] == "changed", said  # it no longer opens
    assert said[0]["link"].endswith(f"token={new_token}")
    # the send fails: recorded as a failure, the message is followed, with the live link
    with engine.begin() as conn:
        conn.execute(sa.update(T).where(T.c.id == notice.id).values(
            status="failed", lease_until=None, attempts=1, last_error="timeout"))  # fmt: skip
    follow.after_failures(engine, [notice.id], NEW_KEY)
    with engine.connect() as conn:
        assert _notice(conn, member, code).payload["link"].endswith(f"token={new_token}")
