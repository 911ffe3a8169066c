"""A round's replacements as recorded (docs/draw-algorithm.md §14), and their check against the
rules: the ``team_change`` rows in order, each ``MemberReplaced`` audit event they must match,
and the draw's teams with them replayed, each pick redone (``rounds.bundle.recompute``, which
``round verify`` and every bundle run). ``rounds.replacements`` records them; the renaming of
a version 2 round's inspectors to their pseudonyms, in which §14 picks, is shared by both."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from draw import core
from draw.frame import EnterpriseUnit, InspectorUnit
from draw.public import pseudonym
from draw.replace import NoReplacement, Replacement, ReplayMismatch, TeamsNow, Withdrawal, replay
from findings.state import utc
from rounds.models import AuditEvent, Round, TeamChange
from shuangsui.errors import IntegrityError


@dataclass(frozen=True)
class MemberReplaced:
    """Audit event: the n-th replacement of the round (§14), with why and who recorded it."""

    n: int
    credit_code: str
    position: int
    withdrawn: str
    replacement: str
    cause: str
    note: str
    recorded_by: str
    recorded_at: str = ""  # ISO, UTC, microseconds: the row's (empty in no event yet made)
    # the date given to the check with the replacement (ISO); None when the seats kept theirs
    # (and absent from the events recorded before a replacement could give one)
    due_on: str | None = None


def recorded(session: Session, round_key: str) -> list[Replacement]:
    """The round's replacements in order of ``n`` (as ``replacements.json`` lists them)."""
    return [as_replacement(r) for r in recorded_rows(session, round_key)]


def recorded_rows(
    session: Session, round_key: str, credit_code: str | None = None
) -> list[TeamChange]:
    """The round's ``team_change`` rows (one enterprise's, with ``credit_code``) in order of
    ``n``, the reason and recorder with them."""
    stmt = select(TeamChange).where(TeamChange.round_key == round_key)
    if credit_code is not None:
        stmt = stmt.where(TeamChange.credit_code == credit_code)
    return list(session.exec(stmt.order_by(col(TeamChange.n))).all())


def as_replacement(row: TeamChange) -> Replacement:
    w = Withdrawal(row.n, row.credit_code, row.position, row.withdrawn, row.cause)
    return Replacement(w, row.replacement)


def enterprise_unit(inputs: core.DrawInputs, credit_code: str) -> EnterpriseUnit:
    for unit in inputs.enterprises:
        if unit.credit_code == credit_code:
            return unit
    raise IntegrityError(f"{credit_code} has a team but is not in the round's committed frame")


Renamed = tuple[
    dict[str, str],
    dict[str, str],
    list[InspectorUnit],
    frozenset[tuple[str, str]],
    frozenset[tuple[str, str]],
]


def renamed(inputs: core.DrawInputs) -> Renamed:
    """Version 2: every inspector under its pseudonym, as the draw's §12.4 runs §9."""
    names = {
        u.inspector_id: pseudonym(inputs.pseudonym_key, inputs.round_key, u.inspector_id)
        for u in inputs.inspectors
    }
    back = {p: i for i, p in names.items()}
    units = [dataclasses.replace(u, inspector_id=names[u.inspector_id]) for u in inputs.inspectors]

    def rename(pairs: frozenset[tuple[str, str]]) -> frozenset[tuple[str, str]]:
        return frozenset((names[i], code) for i, code in pairs if i in names)

    return names, back, units, rename(inputs.conflicts), rename(inputs.recent_pairs)


def renamed_now(now: TeamsNow, names: dict[str, str]) -> TeamsNow:
    return TeamsNow(
        {code: [names[i] for i in team] for code, team in now.teams.items()},
        {names[i]: n for i, n in now.workloads.items()},
        {code: {names[i] for i in out} for code, out in now.off_team.items()},
        {names[i] for i in now.off_round},
        now.count,
    )


def replayed_teams(
    rnd: Round,
    inputs: core.DrawInputs,
    result: core.DrawResult,
    changes: Sequence[Replacement],
) -> dict[str, tuple[str, ...]]:
    """The draw's teams with the round's recorded replacements replayed, each checked to be
    §14's pick (:class:`IntegrityError` naming the first that is not)."""
    if not changes:
        return dict(result.teams)
    seed = bytes.fromhex(result.seed)
    by_code = {w.withdrawal.credit_code for w in changes}
    enterprises = {code: enterprise_unit(inputs, code) for code in by_code}
    try:
        if inputs.version < 2:
            now = replay(seed, inputs.plan, enterprises, inputs.inspectors, inputs.conflicts,
                         inputs.recent_pairs, result.teams, result.workloads, changes)  # fmt: skip
            return {code: tuple(team) for code, team in now.teams.items()}
        names, back, units, conflicts, recent = renamed(inputs)
        now = replay(
            seed, inputs.plan, enterprises, units, conflicts, recent,
            {code: [names[i] for i in team] for code, team in result.teams.items()},
            {names[i]: n for i, n in result.workloads.items()},
            [renamed_change(c, names) for c in changes],
        )  # fmt: skip
        return {code: tuple(back[p] for p in team) for code, team in now.teams.items()}
    except (ReplayMismatch, NoReplacement, KeyError) as exc:
        raise IntegrityError(f"round {rnd.round_key}: {exc}") from None


def renamed_change(change: Replacement, names: dict[str, str]) -> Replacement:
    w = change.withdrawal
    return Replacement(
        dataclasses.replace(w, withdrawn=names.get(w.withdrawn, w.withdrawn)),
        names.get(change.replacement, change.replacement),
    )


def iso(at: datetime) -> str:
    """A moment as the audit event records it: UTC, to the microsecond (SQLite hands it back
    naive)."""
    return utc(at).isoformat(timespec="microseconds")


# keys MemberReplaced gained after replacements were first recorded: an event written before
# (shuangsui before 1f7434a) has no recorded_at, and its row's is compared with nothing
LATER_KEYS = frozenset({"recorded_at"})


def compare_events(
    round_key: str, rows: Sequence[TeamChange], events: Sequence[AuditEvent]
) -> None:
    """The round's ``team_change`` rows against its ``MemberReplaced`` audit events (the chain
    checked): the same replacements, in the same order, with the same facts, reason, recorder
    and date given to the check. A row written or rewritten in the database without its event
    is named: the reason, the recorder and the date too, since the coordinator's page and the
    API show them from the row (a reason rewritten to hide why a member was withdrawn, or a
    date moved to excuse a late check, is a record falsified)."""
    logged = [e.payload for e in events if e.event == MemberReplaced.__name__]
    if len(logged) != len(rows):
        raise IntegrityError(
            f"round {round_key}: {len(rows)} replacement(s) stored, {len(logged)} in the audit log"
        )
    for row, payload in zip(rows, logged, strict=True):
        said = json.loads(payload)
        stored = {**as_replacement(row).to_json(), "note": row.note,
                  "recorded_by": row.recorded_by, "recorded_at": iso(row.recorded_at),
                  "due_on": row.due_on.isoformat() if row.due_on else None}  # fmt: skip
        del stored["n"]
        for key in LATER_KEYS - said.keys():  # an event of an older shuangsui: not said then
            del stored[key]
        want = {k: said.get(k) for k in stored}
        if said.get("n") != row.n or want != stored:
            differ = ", ".join(k for k in stored if want[k] != stored[k]) or "n"
            raise IntegrityError(
                f"round {round_key}: replacement {row.n} is stored as {stored}, the audit log "
                f"says {said} (differs: {differ})"
            )
