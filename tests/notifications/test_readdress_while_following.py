"""The registry's import correcting an inspector's address and a dispatcher's claim following
messages at once do not deadlock (PostgreSQL).

After a rotation (or a link ended), a dispatcher's claim follows the messages it took that
hold a dead link (``dispatch._followed``, in ``follow.one_at_a_time``'s turn): seat by seat, it
writes again every waiting message of the member on the check, then appends the seat's
rewriting to the audit log, holding the log's head for the seats after. An import that
corrects an inspector's address sends their waiting messages there (``readdress``, the
registry's hook, in the import's transaction), then appends ``MessagesReaddressed`` to the
log. A following that had audited a seat before and went on to the corrected member's seat
waited on the notice the import held, while the import waited on the log's head. Now the
import takes the changes' turn (``rounds.turns``) before it re-addresses anything, as a
replacement does.

Two real processes, made to meet: the claim takes a message of three seats, a third connection
holds the second seat's notice, so the follower, having audited the first seat, waits on it; the
import then re-addresses the third seat's member (their notice, not claimed) and waits on the
log's head (now: on the turn), and the third lets go. Both must end well, with no deadlock said;
the claimed messages hold the link that opens and the member's waiting messages the corrected
address. SQLite writes one transaction at a time: nothing to meet there."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from notifications.links import assignment_token
from registry.export import export_kind
from registry.importer import import_file
from registry.models import Inspector
from tests.findings.factories import ROUND, drawn_round
from tests.notifications import test_findings_while_following as findings
from tests.notifications.test_findings_while_following import meet, side
from tests.notifications.test_relink_while_following import NEW_KEY, T

FIXED = "corrected.address@bureau.example.cn"
pg = findings.pg  # the fixture: PostgreSQL's engine, or the test skipped


def _three_members(engine: sa.Engine) -> list[tuple[str, str]]:
    """A drawn round's three checks whose leads are three members: (lead, check) each."""
    seats: list[tuple[str, str]] = []
    for code, team in sorted(drawn_round(engine).items()):
        if team[0] not in {m for m, _ in seats}:
            seats.append((team[0], code))
    assert len(seats) >= 3, seats
    return seats[:3]


@pytest.mark.slow
def test_an_import_correcting_an_address_and_a_claim_following_take_turns(
    pg: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    engine = pg
    seats = _three_members(engine)
    member, code = seats[2]
    path = tmp_path / "inspectors.csv"
    with Session(engine) as s:
        export_kind(session=s, kind="inspectors", out=path)
        old = s.get(Inspector, member).email  # type: ignore[union-attr]
    text = path.read_bytes().decode("utf-8-sig")
    assert old and text.count(old) == 1
    path.write_bytes(text.replace(old, FIXED).encode("utf-8-sig"))
    said = meet(engine, db_url, tmp_path, __name__, ROUND, seats, str(path))
    assert "1 updated" in said["change"], said
    with engine.connect() as conn:
        rows = conn.execute(sa.select(T.c.address, T.c.payload, T.c.status, T.c.lease_until)
                            .where(T.c.recipient == member)).all()  # fmt: skip
    waiting = [r for r in rows if r.status == "pending" and r.lease_until is None]
    assert waiting and all(r.address == FIXED for r in waiting), rows
    token = assignment_token(NEW_KEY, ROUND, code, member)
    notice = [r for r in waiting if r.payload.get("credit_code") == code]
    assert notice and all(r.payload["link"].endswith(f"token={token}") for r in notice), notice


def _main(what: str) -> None:
    """One side, in a process of its own: the claim, or the import of the corrected file."""
    engine = side(what)
    if engine is None:
        return
    with Session(engine) as s:
        result = import_file(session=s, kind="inspectors", path=Path(what))
        s.commit()
    print(f"{result.updated} updated")


if __name__ == "__main__":
    _main(sys.argv[1])
