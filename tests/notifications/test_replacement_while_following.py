"""A replacement, or a new date for a check, and a dispatcher's claim following the same
member's messages at once do not deadlock (PostgreSQL).

After a rotation (or a link ended), a dispatcher's claim follows the messages it took that
hold a dead link (``dispatch._followed``, in ``follow.one_at_a_time``'s turn): it writes
again every waiting message of the member's seat, then audits the seat's rewriting. A
replacement (``rounds.replacements``) and a new date (``rounds.redates``) lock the round's
row, append their event to the audit log, then write again the team's waiting notices
(``notifications.hooks``). The two took the same locks in the other order: the follower held
the member's notice and waited on the audit log's head, which the change held while it
waited on that notice. PostgreSQL ended it by failing one of them: a failed following sends
the claimed messages as they stood, with the dead link; a failed change is tried again.
Now a change of a drawn round takes the followers' turn before the round's row
(``rounds.turns``, which ``notifications.hooks.install`` gives ``follow.one_at_a_time``).

Two real processes, made to meet: a third connection holds the seat's last message, the
follower (having given back the reminder it claimed, and written the member's notice) waits
on it, the change then waits on the notice (or, now, on the turn), and the third lets go.
Both must end well, with no deadlock said, and the member's messages must hold the link that
opens. SQLite writes one transaction at a time: nothing to meet there."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from notifications import link_key
from notifications.links import assignment_token, idempotency_key, idempotency_keys
from notifications.models import Notification, NotificationKind
from rounds.replacements import bureau_today
from tests.findings.factories import ROUND, drawn_round, teams
from tests.notifications.test_relink_while_following import (
    EARLY,
    LATER,
    NEW_KEY,
    T,
    _start,
    _until_waiting,
    ended_well,
)


def _seat_with_reminders(engine: sa.Engine) -> tuple[str, list[str], int]:
    """A drawn round whose messages wait, not due, but one: a reminder to the lead of the
    first check (the claim takes it; its link is of the old key), the lead given a second,
    not due, written after (the one the third connection holds: the follower writes it last,
    after the lead's notice). The check, its team, the second reminder's id."""
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead = drawn[code][0]
    with Session(engine) as s:
        s.execute(sa.update(T).values(next_attempt_at=LATER))
        key = idempotency_keys(ROUND, NotificationKind.assignment.value)(lead, code)
        notice = s.execute(sa.select(Notification).where(
            T.c.idempotency_key == key)).scalar_one()  # fmt: skip
        ids = []
        for when, name in ((EARLY, "claimed"), (LATER, "held")):
            reminder = Notification(
                idempotency_key=idempotency_key(ROUND, "reminder", lead, f"{code}|{name}"),
                round_key=ROUND, kind=NotificationKind.reminder, recipient=lead,
                channel=notice.channel, address=notice.address, subject=notice.subject,
                body=notice.body, payload=notice.payload, next_attempt_at=when, created_at=EARLY,
            )  # fmt: skip
            s.add(reminder)
            s.flush()
            assert reminder.id is not None
            ids.append(reminder.id)
        s.commit()
    with engine.begin() as conn:  # the rotation's first step (``relink --all-open``)
        link_key.record(conn, link_key.fingerprint(NEW_KEY), by="李协调")
    return code, drawn[code], ids[1]


def _meet(engine: sa.Engine, db_url: str, tmp_path: Path, change: list[str]) -> dict[str, str]:
    """The claim's following and ``change`` (this module's command line) made to meet; what
    each said. Both must have ended well, with no deadlock, the claim's following done."""
    code, team, held = _seat_with_reminders(engine)
    with engine.connect() as holder:
        holder.begin()
        holder.execute(sa.select(T.c.id).where(T.c.id == held).with_for_update())
        follower = _start(db_url, tmp_path, "claim", __name__)
        _until_waiting(engine, 1, [follower])  # the lead's notice written, the reminder next
        changer = _start(db_url, tmp_path, json.dumps([code, *change]), __name__)
        _until_waiting(engine, 2, [follower, changer])  # on the notice, or on the turn
        holder.rollback()
    said = ended_well(claim=follower, change=changer)
    lead = team[0]
    ((member, claimed_code, link),) = json.loads(said["claim"].strip().splitlines()[-1])
    assert (member, claimed_code) == (lead, code)  # the claimed reminder goes with the new link
    token = assignment_token(NEW_KEY, ROUND, code, lead)
    assert link.endswith(f"token={token}"), link
    with engine.connect() as conn:  # and every message of the lead's on the check waits with it
        rows = conn.execute(sa.select(T.c.kind, T.c.payload).where(
            T.c.recipient == lead, T.c.kind.in_(["assignment", "reminder"]))).all()  # fmt: skip
    mine = [(kind, p) for kind, p in rows if p["credit_code"] == code]
    assert "assignment" in {kind for kind, _ in mine}
    for kind, payload in mine:
        assert payload["link"].endswith(f"token={token}"), (kind, payload)
    return said | {"code": code, "team": json.dumps(team)}


@pytest.fixture
def pg(engine: sa.Engine) -> sa.Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: no two wait on each other")
    return engine


@pytest.mark.slow
def test_a_replacement_and_a_claim_following_the_same_member_take_turns(
    pg: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    engine = pg
    said = _meet(engine, db_url, tmp_path, ["replace"])
    lead, leaving = json.loads(said["team"])
    now = teams(engine)[said["code"]]
    assert now[0] == lead and leaving not in now and len(now) == 2, (now, said)


@pytest.mark.slow
def test_a_new_date_and_a_claim_following_the_same_member_take_turns(
    pg: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    engine = pg
    due_on = bureau_today() + timedelta(days=20)
    said = _meet(engine, db_url, tmp_path, ["redate", due_on.isoformat()])
    a = sa.table("assignment", sa.column("round_key"), sa.column("credit_code"),
                 sa.column("due_on"))  # fmt: skip
    with engine.connect() as conn:
        dates = conn.execute(sa.select(a.c.due_on).where(
            a.c.round_key == ROUND, a.c.credit_code == said["code"])).scalars().all()  # fmt: skip
    assert dates and {date.fromisoformat(str(d)[:10]) for d in dates} == {due_on}, said


def _main(what: str) -> None:
    """One side, in a process of its own: the claim (the messages it took, as JSON, last), or
    the change, as every entry point makes it (``shuangsui.wiring``: notifications' hooks
    installed), a collision it retries said (``shuangsui.writes``)."""
    from notifications.dispatch import claim
    from rounds.redates import move_due_date
    from rounds.replacements import replace_member
    from shuangsui import wiring
    from shuangsui.db import get_engine

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("shuangsui.writes").setLevel(logging.INFO)
    wiring.install()
    engine = get_engine()
    if what == "claim":
        rows = claim(engine, 5, datetime.now(UTC), timedelta(minutes=5), secret=NEW_KEY)
        print(json.dumps([[r.recipient, r.payload["credit_code"], r.payload["link"]]
                          for r in rows]))  # fmt: skip
        return
    code, kind, *rest = json.loads(what)
    team = teams(engine)[code]
    if kind == "replace":
        replace_member(engine, ROUND, code, team[1], cause="conflict",
                       note="与该企业负责人系亲属", recorded_by="李协调")  # fmt: skip
    else:
        move_due_date(engine, ROUND, code, due_on=date.fromisoformat(rest[0]),
                      reason="企业停产整顿一个月", recorded_by="李协调")  # fmt: skip


if __name__ == "__main__":
    _main(sys.argv[1])
