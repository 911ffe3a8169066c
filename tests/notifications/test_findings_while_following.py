"""A finding's sign-off, or its new version, and a dispatcher's claim following the same
member's messages at once do not deadlock (PostgreSQL).

After a rotation (or a link ended), a dispatcher's claim follows the messages it took that
hold a dead link (``dispatch._followed``, in ``follow.one_at_a_time``'s turn): seat by seat, it
writes again every waiting message of the member on the check, then appends the seat's
rewriting to the audit log, holding the log's head for the seats after. A sign-off
(``findings.service.sign_off``) deletes the signer's 待您签字确认 not sent (``hooks.after_sign``),
and a new version the team's earlier ones (``hooks.after_version``), then appends its event
to the log. A following that had audited a seat before and went on to the signer's seat waited
on the request the sign-off held, while the sign-off waited on the log's head: PostgreSQL ended
it by failing the following (the claimed messages went with the dead link) or the sign-off
(tried again). Now a finding's write takes the followers' turn before the round's row
(``findings.service.hold_teams``: ``rounds.turns``), as a replacement does.

Two real processes, made to meet: the claim takes a message of three seats, a third connection
holds the second seat's notice, so the follower, having audited the first seat, waits on it; the
sign-off then deletes the third seat's request and waits on the log's head (now: on the turn),
and the third lets go. Both must end well, with no deadlock said, and the claimed messages hold
the link that opens. SQLite writes one transaction at a time: nothing to meet there."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from findings.models import Finding, FindingSignoff, FindingVersion
from notifications import link_key
from notifications.links import assignment_token, idempotency_key
from notifications.models import Notification, NotificationKind
from tests.findings.factories import ROUND, drawn_round, finding
from tests.notifications import test_relink_while_following as following
from tests.notifications.test_relink_while_following import EARLY, LATER, NEW_KEY, T

Seat = tuple[str, str]  # (inspector_id, credit_code)


def three_seats(engine: sa.Engine, round_key: str, seats: Sequence[Seat]) -> int:
    """Every message of the round waiting, not due, but one of each of ``seats``, which the
    claim takes: the first's 检查任务通知, and a reminder of the second's and the third's
    (their notices are not claimed: the following writes them, where the claim would have
    given them back first). Then the rotation's first step: the links they hold are dead.
    The id of the second seat's notice (the one the third connection holds)."""
    first, *rest = seats
    notices = {}
    with Session(engine) as s:
        s.execute(sa.update(T).values(next_attempt_at=LATER))
        for member, code in seats:
            mine = s.execute(sa.select(Notification).where(
                Notification.kind == NotificationKind.assignment,
                Notification.recipient == member, Notification.round_key == round_key,
            )).scalars().all()  # fmt: skip
            notices[(member, code)] = next(n for n in mine if n.payload["credit_code"] == code)
        held = notices[seats[1]].id
        s.execute(sa.update(T).where(T.c.id == notices[first].id).values(next_attempt_at=EARLY))
        for seat in rest:
            n = notices[seat]
            s.add(Notification(
                idempotency_key=idempotency_key(round_key, "reminder", n.recipient,
                                                f"{seat[1]}|claimed"),
                round_key=round_key, kind=NotificationKind.reminder, recipient=n.recipient,
                channel=n.channel, address=n.address, subject=n.subject, body=n.body,
                payload=n.payload, next_attempt_at=EARLY, created_at=EARLY,
            ))  # fmt: skip
        s.commit()
    with engine.begin() as conn:  # the rotation's first step (``relink --all-open``)
        link_key.record(conn, link_key.fingerprint(NEW_KEY), by="李协调")
    assert held is not None
    return held


def meet(
    engine: sa.Engine, db_url: str, tmp_path: Path, module: str, round_key: str,
    seats: Sequence[Seat], change: str,
) -> dict[str, str]:  # fmt: skip
    """The claim's following (``module``'s ``claim``) and ``change`` (its other side) made to
    meet on ``seats`` (:func:`three_seats`); what each said. Both ended well, with no deadlock,
    and each message claimed holds its member's link under the new key."""
    held = three_seats(engine, round_key, seats)
    with engine.connect() as holder:
        holder.begin()
        holder.execute(sa.select(T.c.id).where(T.c.id == held).with_for_update())
        follower = following._start(db_url, tmp_path, "claim", module)
        # the first seat audited, the follower waits on the second's notice
        following._until_waiting(engine, 1, [follower])
        changer = following._start(db_url, tmp_path, change, module)
        following._until_waiting(engine, 2, [follower, changer])  # on the log, or the turn
        holder.rollback()
    said = following.ended_well(claim=follower, change=changer)
    claimed = json.loads(said["claim"].strip().splitlines()[-1])
    assert sorted((m, c) for m, c, _ in claimed) == sorted(seats), said
    for member, code, link in claimed:
        assert link.endswith(f"token={assignment_token(NEW_KEY, round_key, code, member)}"), link
    return said


@pytest.fixture
def pg(engine: sa.Engine) -> sa.Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite writes one transaction at a time: no two wait on each other")
    return engine


def _round_and_request(engine: sa.Engine) -> tuple[list[Seat], list[str]]:
    """A drawn round, the third check's version 1 submitted by its lead: its other member asked
    to sign (a 待您签字确认 holding their link). The seats (the first two checks' leads, that
    member), the third check's team."""
    from findings.service import submit

    drawn = drawn_round(engine)
    (c0, t0), (c1, t1), (code, team) = sorted(drawn.items())[:3]
    submit(engine, round_key=ROUND, credit_code=code, data=finding(),
           submitted_by=f"inspector:{team[0]}", signers=[team[0]])  # fmt: skip
    return [(t0[0], c0), (t1[0], c1), (team[1], code)], team


def _requests(engine: sa.Engine, member: str, code: str) -> list[tuple[str, dict]]:
    """``member``'s 待您签字确认 of ``code``'s finding waiting now: (idempotency key, payload)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(T.c.idempotency_key, T.c.payload).where(
            T.c.recipient == member, T.c.kind == NotificationKind.signoff_request.value,
            T.c.status == "pending")).all()  # fmt: skip
    return [(key, p) for key, p in rows if p["credit_code"] == code]


def _signers(engine: sa.Engine, code: str) -> list[str]:
    """Who signed a version of ``code``'s finding."""
    v, f = FindingVersion, Finding
    with Session(engine) as s:
        return list(s.execute(sa.select(FindingSignoff.inspector_id)
                              .join(v, v.id == FindingSignoff.version_id)  # type: ignore[arg-type]
                              .join(f, f.id == v.finding_id)  # type: ignore[arg-type]
                              .where(f.round_key == ROUND, f.credit_code == code)).scalars())  # type: ignore[arg-type]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("change", ["sign", "correct", "import"])
def test_a_finding_write_and_a_claim_following_a_member_asked_to_sign_take_turns(
    pg: sa.Engine, db_url: str, tmp_path: Path, change: str
) -> None:
    """The member asked signs version 1 (their request withdrawn), or the lead corrects it, or
    a coordinator's findings file does (version 2: the member's request for version 1
    withdrawn, one for version 2 queued)."""
    engine = pg
    seats, team = _round_and_request(engine)
    member, code = seats[2]
    assert len(_requests(engine, member, code)) == 1
    who = member if change == "sign" else team[0]
    path = tmp_path / "findings.csv"  # the check date in the window, not after today
    path.write_text("轮次,统一社会信用代码,检查结果,检查日期,签字人员,原因\n"
                    f"{ROUND},{code},未发现问题,2026-12-07,{who},检查日期记错，更正\n",
                    encoding="utf-8")  # fmt: skip
    said = meet(engine, db_url, tmp_path, __name__, ROUND, seats,
                json.dumps([change, code, who, str(path)]))  # fmt: skip
    requests = _requests(engine, member, code)
    if change == "sign":
        assert requests == [] and sorted(_signers(engine, code)) == sorted(team)
        return
    ((_, payload),) = requests  # version 2's, and only it
    assert payload["link"].endswith(f"token={assignment_token(NEW_KEY, ROUND, code, member)}")
    assert change != "import" or "1 recorded" in said["change"], said


def side(what: str) -> sa.Engine | None:
    """What both sides' processes do first, as every entry point does (``shuangsui.wiring``:
    the hooks installed), a collision a write retries said (``shuangsui.writes``); and the
    claim's side, when ``what`` is ``claim``: the claim, under the new key, and the messages
    it took printed as JSON (None then). The engine, for the other side."""
    from notifications.dispatch import claim
    from shuangsui import wiring
    from shuangsui.db import get_engine

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("shuangsui.writes").setLevel(logging.INFO)
    wiring.install()
    engine = get_engine()
    if what != "claim":
        return engine
    rows = claim(engine, 5, datetime.now(UTC), timedelta(minutes=5), secret=NEW_KEY)
    print(json.dumps([[r.recipient, r.payload["credit_code"], r.payload["link"]] for r in rows]))
    return None


def _main(what: str) -> None:
    """One side, in a process of its own: the claim, or the finding's write."""
    from findings.importer import import_findings
    from findings.service import sign_off, submit

    engine = side(what)
    if engine is None:
        return
    kind, code, who, path = json.loads(what)
    if kind == "sign":
        sign_off(engine, round_key=ROUND, credit_code=code, version=1, inspector_id=who)
    elif kind == "import":
        print(f"{import_findings(engine, Path(path), imported_by='王五')} recorded")
    else:  # a correction; the check date lies in the test data's window (tests/conftest.py)
        submit(engine, round_key=ROUND, credit_code=code, submitted_by=f"inspector:{who}",
               data=finding(reason="检查日期记错，更正"), signers=[who], base_version=1,
               today=date(2026, 12, 31))  # fmt: skip


if __name__ == "__main__":
    _main(sys.argv[1])
