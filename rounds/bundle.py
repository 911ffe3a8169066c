"""Verification bundles from the database, and verification of a stored draw.

The draw is re-run from the artifacts frozen at commitment and the entropy as recorded; the
result must equal, row for row, what the database holds as the round's selection and teams.

A bundle is written for one audience (docs/public-record.md): ``public`` (the default; what
the public site carries: inspectors only under pseudonyms) or ``auditor`` (inspector
identities, leave, declared conflicts and, for version 2, the pseudonym key; for the
discipline inspection office (纪检监察) and other authorised auditors only).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter, itemgetter
from pathlib import Path

from sqlalchemy import Connection, Engine, select
from sqlmodel import Session, col

from draw import core
from draw.bundle import AUDIENCES, Writer, write_bundle, write_failed_bundle, write_pieces
from draw.errors import InfeasibleDraw
from draw.replace import Replacement
from rounds import audit, due_dates, service, team_changes
from rounds.frames import code_order
from rounds.models import Assignment, AuditEvent, Round, RoundStatus, Selection
from shuangsui.config import get_settings
from shuangsui.db import one_moment
from shuangsui.errors import IntegrityError, UserError
from shuangsui.files import remove_leftovers, write_atomic, writer_lock
from shuangsui.paths import child

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recomputed:
    round: Round
    inputs: core.DrawInputs
    result: core.DrawResult
    replacements: list[Replacement] = field(default_factory=list)  # §14, in order


def recompute(engine: Engine, round_key: str, *, chain_checked: bool = False) -> Recomputed:
    """Re-run a drawn round and compare with what is stored; raise naming the first difference
    (in credit-code order). The whole audit log is checked first, unless the caller has just
    checked it (``chain_checked``: a publish writing many rounds' bundles checks it once, not
    once a round, which grew with the square of the years)."""
    rnd = service.get_round(engine, round_key)
    if rnd.status not in (RoundStatus.drawn, RoundStatus.closed):
        raise UserError(f"round {round_key} is {rnd.status.value}: there is no draw to verify")
    with one_moment(engine) as conn:  # the log, the replacements and the teams agree
        session = Session(bind=conn)
        inputs = service.load_inputs(session, round_key, rnd.entropy or [])
        if not chain_checked:
            audit.verify_chain(audit.load_chain(session))
        events = audit.round_events(session, round_key)
        _compare_audit(rnd, events)
        unnamed = service.unnamed_entropy(rnd.entropy_plan["sources"], rnd.entropy or [])
        if unnamed:  # entropy chosen after the commitment: the bundle would verify all the same
            raise IntegrityError(f"round {round_key}: {unnamed}")
        rows = team_changes.recorded_rows(session, round_key)
        team_changes.compare_events(round_key, rows, events)
        due_dates.check(session, rnd, events)  # every assignment's date as recorded
        changes = [team_changes.as_replacement(r) for r in rows]
        result = core.draw(inputs)
        if result.seed != rnd.seed:
            raise IntegrityError(
                f"round {round_key}: stored seed {rnd.seed} != recomputed {result.seed}"
            )
        if result.commitments.frame_commitment != rnd.frame_commitment:
            raise IntegrityError(f"round {round_key}: stored frame does not match its commitment")
        # the stored rows stream past the drawn ones, in code order
        _compare_selection(conn, round_key, result)
        teams = team_changes.replayed_teams(rnd, inputs, result, changes)
        _compare_teams(conn, round_key, teams)
    return Recomputed(rnd, inputs, result, changes)


# what the round's record must say as its audit events said it when they were appended
_COMMITTED = ("plan_hash", "frame_commitment", "frame_merkle_root", "frame_size",
              "inspector_commitment", "inspector_frame_size", "entropy_plan")  # fmt: skip


def _compare_audit(rnd: Round, events: list[AuditEvent]) -> None:
    """The round's record against its own audit events (the chain checked): the commitments as
    ``RoundCommitted`` logged them, the seed as ``DrawMade`` did. The draw is recomputed from
    the record, so a record rewritten whole (other entropy, the seed, selection and teams made
    again from it) would reproduce itself; the log, whose chain links every later event to
    these, is what it cannot also rewrite unseen. A round key is committed and drawn once: a
    log holding two commitments or two draws of it (the round deleted from the database and
    made again under its key, the log keeping the first) names them all."""
    _once_each(rnd.round_key, events)
    said = {e.event: json.loads(e.payload) for e in events}
    committed, made = said.get("RoundCommitted"), said.get("DrawMade")
    if committed is None or made is None:
        missing = "RoundCommitted" if committed is None else "DrawMade"
        raise IntegrityError(f"round {rnd.round_key}: the audit log has no {missing} event")
    for name in _COMMITTED:
        if name in committed and committed[name] != getattr(rnd, name):
            raise IntegrityError(
                f"round {rnd.round_key}: stored {name} {getattr(rnd, name)} != "
                f"{committed[name]} in the audit log's RoundCommitted event"
            )
    if made["seed"] != rnd.seed:
        raise IntegrityError(
            f"round {rnd.round_key}: stored seed {rnd.seed} != {made['seed']} in the audit "
            "log's DrawMade event"
        )


def _once_each(round_key: str, events: list[AuditEvent]) -> None:
    """Refuse a round key whose log commits or draws it more than once, naming each event (its
    seq) and each draw's seed: the draw before the last was made and then removed."""
    said = []
    for kind in ("RoundCommitted", "DrawMade"):
        found = [e for e in events if e.event == kind]
        if len(found) > 1:
            each = ", ".join(
                f"seq {e.seq}"
                + (f" seed {json.loads(e.payload)['seed']}" if kind == "DrawMade" else "")
                for e in found
            )
            said.append(f"{len(found)} {kind} events ({each})")
    if said:
        raise IntegrityError(
            f"round {round_key}: the audit log has {' and '.join(said)}; a round key is "
            "committed and drawn once: the round was made again under its key after the first"
        )


def _compare_selection(conn: Connection, round_key: str, result: core.DrawResult) -> None:
    by_code = code_order(conn)
    stored = conn.execute(
        select(
            col(Selection.credit_code),
            col(Selection.ticket),
            col(Selection.stratum),
            col(Selection.kind),
            col(Selection.rank),
        )
        .where(col(Selection.round_key) == round_key)
        .order_by(by_code(Selection.credit_code))
    )
    drawn = sorted(result.selected, key=attrgetter("credit_code"))
    i = 0
    for code, ticket, stratum, kind, rank in stored:
        if i < len(drawn) and drawn[i].credit_code < code:
            break  # drawn[i] is not stored
        if i == len(drawn) or drawn[i].credit_code > code:
            raise IntegrityError(
                f"round {round_key}: {code} is stored as selected but was not drawn"
            )
        d = drawn[i]  # a targeted firm shown as random, or a rank moved, is a difference too
        if (d.ticket, d.stratum, d.kind, d.rank) != (ticket, stratum, kind, rank):
            raise IntegrityError(f"round {round_key}: stored selection of {code} differs")
        i += 1
    if i < len(drawn):
        code = drawn[i].credit_code
        raise IntegrityError(f"round {round_key}: {code} should be selected but is not stored")


def _compare_teams(conn: Connection, round_key: str, teams: Mapping[str, Sequence[str]]) -> None:
    """The stored teams against the draw's with the round's replacements replayed (§14)."""
    by_code = code_order(conn)
    stored = conn.execute(
        select(col(Assignment.credit_code), col(Assignment.position), col(Assignment.inspector_id))
        .where(col(Assignment.round_key) == round_key)
        .order_by(by_code(Assignment.credit_code), col(Assignment.position))
    )
    drawn = iter(sorted(code for code, team in teams.items() if team))

    def differs(code: str, team: list[str]) -> IntegrityError:
        return IntegrityError(
            f"round {round_key}: team of {code} is stored as {team}, "
            f"drawn as {list(teams.get(code, ()))} (with any replacements replayed)"
        )

    for code, rows in groupby(stored, key=itemgetter(0)):
        team = [inspector for _, _, inspector in rows]
        expected = next(drawn, None)
        if expected is not None and expected < code:
            raise differs(expected, [])
        if expected is None or expected > code:
            if code in teams:  # drawn, with no one on it
                raise differs(code, team)
            raise IntegrityError(
                f"round {round_key}: a team is stored for {code}, which was not drawn"
            )
        if team != list(teams[code]):
            raise differs(code, team)
    left = next(drawn, None)
    if left is not None:
        raise differs(left, [])


def bundle_dir(home: Path, round_key: str) -> Path:
    """Where a round's bundle lives in the data directory: ``bundles/<round key>``, contained
    (a key that is not one name inside ``bundles/`` is refused before anything is written)."""
    return child(home / "bundles", round_key)


def recompute_failure(
    engine: Engine, round_key: str, *, chain_checked: bool = False
) -> tuple[Round, core.DrawInputs]:
    """Re-run a failed round up to its failure: it must fail with the error stored (the audit
    log checked first, as by :func:`recompute`)."""
    rnd = service.get_round(engine, round_key)
    if rnd.status is not RoundStatus.failed or rnd.entropy is None:
        raise UserError(
            f"round {round_key} is {rnd.status.value}: only a round whose draw failed with its "
            "entropy recorded has a failure bundle"
        )
    with Session(engine, expire_on_commit=False) as session:
        inputs = service.load_inputs(session, round_key, rnd.entropy)
        if not chain_checked:
            audit.verify_chain(audit.load_chain(session))
    try:
        core.draw(inputs)
    except InfeasibleDraw as exc:
        if str(exc) != rnd.last_error:
            raise IntegrityError(
                f"round {round_key}: stored failure {rnd.last_error!r}, recomputed {str(exc)!r}"
            ) from None
        return rnd, inputs
    raise IntegrityError(f"round {round_key} is stored as failed, but its draw completes")


def bundle_round(
    engine: Engine,
    round_key: str,
    out: Path,
    audience: str = "public",
    *,
    scratch: bool = False,
    chain_checked: bool = False,
) -> Path:
    """Write the round's self-contained verification bundle for ``audience`` into ``out`` (for
    a failed round, the bundle that confirms its failure). Each file is written atomically;
    ``scratch``: a private temporary folder, where plain writes do; ``chain_checked``: the
    caller has just checked the whole audit log (:func:`recompute`)."""
    if audience not in AUDIENCES:
        raise UserError(f"audience: must be one of {', '.join(AUDIENCES)}, not {audience!r}")
    if scratch:
        return _bundle_round(engine, round_key, out, audience, write_pieces, chain_checked)
    with writer_lock(out):  # two runs into one folder take turns (``shuangsui.files``)
        remove_leftovers(out)
        return _bundle_round(engine, round_key, out, audience, write_atomic, chain_checked)


def _bundle_round(
    engine: Engine, round_key: str, out: Path, audience: str, write: Writer, chain_checked: bool
) -> Path:
    if service.get_round(engine, round_key).status is RoundStatus.failed:
        rnd, inputs = recompute_failure(engine, round_key, chain_checked=chain_checked)
        meta = service.canonical_copy(_meta(rnd))
        path = write_failed_bundle(out, inputs, meta, audience, write=write)
        logger.info("%s failure bundle of %s written to %s", audience, round_key, path)
        return path
    rc = recompute(engine, round_key, chain_checked=chain_checked)
    meta = service.canonical_copy(_meta(rc.round))
    path = write_bundle(
        out, rc.inputs, rc.result, meta, audience, write=write, replacements=rc.replacements
    )
    logger.info("%s bundle of %s written to %s", audience, round_key, path)
    return path


def _meta(rnd: Round) -> dict[str, object]:
    """Free, not recomputed information about the round (round.json "meta")."""
    settings = get_settings()
    return {
        "bureau_code": settings.bureau_code,
        "bureau_name": settings.bureau_name,
        "kind": rnd.kind.value,
        "requested_by": rnd.requested_by,
        "reason": rnd.reason,
        "overrides": rnd.overrides,
        "entropy_plan": rnd.entropy_plan,
        "committed_at": rnd.committed_at.isoformat(),
        "drawn_at": rnd.drawn_at.isoformat() if rnd.drawn_at else "",
    }


def run_verify_script(directory: Path) -> subprocess.CompletedProcess[str]:
    """Run the bundle's own verify.py the way an outsider would: stdlib only, isolated."""
    script = directory / "verify.py"
    if not script.is_file():
        raise UserError(f"{directory}: no verify.py (not a shuangsui verification bundle)")
    return subprocess.run(
        [sys.executable, "-I", "-S", str(script), str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
