"""A joint round's replacement, ours or a partner's taken in, and a dispatcher's claim
following our members' messages at once do not deadlock (PostgreSQL).

After a rotation (or a link ended), a dispatcher's claim follows the messages it took that
hold a dead link (``dispatch._followed``, in ``follow.one_at_a_time``'s turn): seat by seat (by
inspector id), it writes again every waiting message of the member on the check, then appends
the seat's rewriting to the audit log, holding the log's head for the seats after. A joint
round's replacement is held under the joint round's row lock (``joint.replacements``), and
``joint.notify.tell_the_team`` writes again the notices of our members who stay, in the team's
order; ours then appends its event to the log (``joint.withdraw``). They met: the following,
having audited a seat, waited on a stayer's notice the replacement held, while the replacement
waited on the log's head (ours), or on a notice of the following's (a partner's, the team's
order not the ids'). PostgreSQL ended it by failing the following (the claimed messages went
with the dead link) or the replacement (tried again). Now a joint round's replacement takes the
followers' turn (``rounds.turns``) before the joint round's row, as a bureau's own does.

Two real processes, made to meet, Shanghai seating two a team: a third connection holds a
notice the follower writes, which it then waits on; the replacement starts, holds a stayer's
notice and waits on what the follower holds (or, now, on the turn); the third lets go. Both
must end well, with no deadlock said, and the claimed messages hold the link that opens."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from joint import service, withdraw
from joint.replacements import teams_now
from notifications.links import assignment_token
from tests.joint.test_joint_replacements_at_once import (
    JOINT,
    NOTE,
    SH,
    ZJ,
    _drawn,
    _row,
    postgres_only,
)
from tests.joint.test_protocol import Trio, trio  # noqa: F401  (fixture)
from tests.notifications.test_findings_while_following import meet, side
from tests.notifications.test_relink_while_following import NEW_KEY, T


def _ours(t: Trio) -> dict[str, list[str]]:
    """Shanghai's members of each team of ``JOINT`` drawn two a team, by credit code."""
    _drawn(t, **{SH: 2})
    drawn = _row(t.b[SH].engine).outcome["teams"]  # type: ignore[index]
    return {code: [i for b, i in team if b == SH] for code, team in sorted(drawn.items())}


def _links(engine: sa.Engine, member: str, code: str) -> list[str]:
    """The links of ``member``'s messages on ``code`` waiting now."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(T.c.payload).where(
            T.c.recipient == member, T.c.round_key == JOINT,
            T.c.status == "pending")).scalars()  # fmt: skip
        return [p["link"] for p in rows if p.get("credit_code") == code and p.get("link")]


def _opens(engine: sa.Engine, member: str, code: str) -> None:
    """Every message of ``member``'s on ``code`` waiting holds the link that opens."""
    token = assignment_token(NEW_KEY, JOINT, code, member)
    links = _links(engine, member, code)
    assert links and all(link.endswith(f"token={token}") for link in links), links


@postgres_only
@pytest.mark.slow
def test_our_replacement_and_a_claim_following_a_member_who_stays_take_turns(
    trio: Trio,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Shanghai withdraws its first member of the third team; the claim follows the first
    team's and the second's members, then the one who stays on the third."""
    t = trio
    ours = _ours(t)
    (c0, (x, _)), (c1, (y, _)), (code, (gone, stays)) = list(ours.items())[:3]
    sh = t.b[SH]
    change = json.dumps(["replace", code, gone, str(sh.home)])
    meet(sh.engine, str(sh.settings.database_url), tmp_path, __name__, JOINT,
         [(x, c0), (y, c1), (stays, code)], change)  # fmt: skip
    team = teams_now(sh.engine, _row(sh.engine))[code]
    assert [SH, gone] not in team and [SH, stays] in team, team
    _opens(sh.engine, stays, code)


@postgres_only
@pytest.mark.slow
def test_a_partners_replacement_taken_in_and_a_claim_following_our_members_take_turns(
    trio: Trio,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Zhejiang withdraws its member of a team on which Shanghai's two stand in the team's
    order against their ids' (the notices written again in that order); Shanghai's pull takes
    the replacement in while the claim follows the first team's member, then Shanghai's two on
    that team, by id."""
    t = trio
    ours = _ours(t)
    (c0, (x, _)), *rest = ours.items()
    code, (high, low) = next((c, pair) for c, pair in rest if pair[0] > pair[1])
    monkeypatch.setattr(withdraw, "send", lambda *_: [])  # taken in by Shanghai's pull
    zj = t.b[ZJ]
    gone = next(i for b, i in _row(zj.engine).outcome["teams"][code] if b == ZJ)  # type: ignore[index]
    withdraw.replace_member(zj.engine, t.me[ZJ], JOINT, code, gone, cause="unavailable",
                            note=NOTE, recorded_by="王协调")  # fmt: skip
    sh = t.b[SH]
    meet(sh.engine, str(sh.settings.database_url), tmp_path, __name__, JOINT,
         [(x, c0), (low, code), (high, code)], json.dumps(["pull", str(sh.home)]))  # fmt: skip
    team = teams_now(sh.engine, _row(sh.engine))[code]
    assert [ZJ, gone] not in team and [SH, low] in team and [SH, high] in team, team
    for member in (low, high):
        _opens(sh.engine, member, code)


def _main(what: str) -> None:
    """One side, in a process of its own: the claim, or Shanghai's replacement (``joint
    replace``'s call) or pull (``joint pull``'s), its key and directory from its home."""
    from exchange.directory import load_directory
    from exchange.keys import load_or_create

    engine = side(what)
    if engine is None:
        return
    kind, *args = json.loads(what)
    home = Path(args[-1])
    me = service.Bureau(SH, load_or_create(home / "keys", SH),
                        load_directory(home / "partners.toml"))  # fmt: skip
    if kind == "pull":
        print(service.pull(engine, me, JOINT))
        return
    code, gone, _ = args
    withdraw.replace_member(engine, me, JOINT, code, gone, cause="conflict", note=NOTE,
                            recorded_by="李协调")  # fmt: skip


if __name__ == "__main__":
    _main(sys.argv[1])
