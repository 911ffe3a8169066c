"""Verification bundles from the database, and verification of a stored draw.

The draw is re-run from the artifacts frozen at commitment and the entropy as recorded; the
result must equal, row for row, what the database holds as the round's selection and teams.

A bundle is written for one audience (docs/public-record.md): ``public`` (the default; what
the public site carries: inspectors only under pseudonyms) or ``auditor`` (inspector
identities, leave, declared conflicts and, for version 2, the pseudonym key; for the
discipline inspection office (纪检监察) and other authorised auditors only).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from draw import core
from draw.bundle import AUDIENCES, write_bundle, write_failed_bundle, write_pieces
from draw.errors import InfeasibleDraw
from rounds import audit, service
from rounds.models import Assignment, Round, RoundStatus, Selection
from shuangsui.config import get_settings
from shuangsui.errors import IntegrityError, UserError
from shuangsui.files import remove_leftovers, write_atomic
from shuangsui.paths import child

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recomputed:
    round: Round
    inputs: core.DrawInputs
    result: core.DrawResult


def recompute(engine: Engine, round_key: str) -> Recomputed:
    """Re-run a drawn round and compare with what is stored; raise naming the first difference."""
    rnd = service.get_round(engine, round_key)
    if rnd.status not in (RoundStatus.drawn, RoundStatus.closed):
        raise UserError(f"round {round_key} is {rnd.status.value}: there is no draw to verify")
    with Session(engine, expire_on_commit=False) as session:
        inputs = service.load_inputs(session, round_key, rnd.entropy or [])
        # plain rows, not ORM objects: a large round stores hundreds of thousands of each
        stored_sel = {
            code: (ticket, stratum)
            for code, ticket, stratum in session.execute(
                select(
                    col(Selection.credit_code), col(Selection.ticket), col(Selection.stratum)
                ).where(col(Selection.round_key) == round_key)
            )
        }
        teams: dict[str, list[tuple[int, str]]] = {}
        for code, position, inspector in session.execute(
            select(
                col(Assignment.credit_code), col(Assignment.position), col(Assignment.inspector_id)
            ).where(col(Assignment.round_key) == round_key)
        ):
            teams.setdefault(code, []).append((position, inspector))
        audit.verify_chain(audit.load_chain(session))
    result = core.draw(inputs)
    if result.seed != rnd.seed:
        raise IntegrityError(
            f"round {round_key}: stored seed {rnd.seed} != recomputed {result.seed}"
        )
    if result.commitments.frame_commitment != rnd.frame_commitment:
        raise IntegrityError(f"round {round_key}: stored frame does not match its commitment")
    got = {s.credit_code: s for s in result.selected}
    for code in sorted(set(got) | set(stored_sel)):
        if code not in stored_sel:
            raise IntegrityError(f"round {round_key}: {code} should be selected but is not stored")
        if code not in got:
            raise IntegrityError(
                f"round {round_key}: {code} is stored as selected but was not drawn"
            )
        if (got[code].ticket, got[code].stratum) != stored_sel[code]:
            raise IntegrityError(f"round {round_key}: stored selection of {code} differs")
    for code, team in result.teams.items():
        stored = [i for _p, i in sorted(teams.get(code, []))]
        if list(team) != stored:
            raise IntegrityError(
                f"round {round_key}: team of {code} is stored as {stored}, drawn as {list(team)}"
            )
    if set(teams) - set(result.teams):
        extra = sorted(set(teams) - set(result.teams))[0]
        raise IntegrityError(
            f"round {round_key}: a team is stored for {extra}, which was not drawn"
        )
    return Recomputed(rnd, inputs, result)


def bundle_dir(home: Path, round_key: str) -> Path:
    """Where a round's bundle lives in the data directory: ``bundles/<round key>``, contained
    (a key that is not one name inside ``bundles/`` is refused before anything is written)."""
    return child(home / "bundles", round_key)


def recompute_failure(engine: Engine, round_key: str) -> tuple[Round, core.DrawInputs]:
    """Re-run a failed round up to its failure: it must fail with the error stored."""
    rnd = service.get_round(engine, round_key)
    if rnd.status is not RoundStatus.failed or rnd.entropy is None:
        raise UserError(
            f"round {round_key} is {rnd.status.value}: only a round whose draw failed with its "
            "entropy recorded has a failure bundle"
        )
    with Session(engine, expire_on_commit=False) as session:
        inputs = service.load_inputs(session, round_key, rnd.entropy)
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
    engine: Engine, round_key: str, out: Path, audience: str = "public", *, scratch: bool = False
) -> Path:
    """Write the round's self-contained verification bundle for ``audience`` into ``out`` (for
    a failed round, the bundle that confirms its failure). Each file is written atomically;
    ``scratch``: a private temporary folder, where plain writes do."""
    if audience not in AUDIENCES:
        raise UserError(f"audience: must be one of {', '.join(AUDIENCES)}, not {audience!r}")
    write = write_pieces if scratch else write_atomic
    if not scratch:
        remove_leftovers(out)
    if service.get_round(engine, round_key).status is RoundStatus.failed:
        rnd, inputs = recompute_failure(engine, round_key)
        meta = service.canonical_copy(_meta(rnd))
        path = write_failed_bundle(out, inputs, meta, audience, write=write)
        logger.info("%s failure bundle of %s written to %s", audience, round_key, path)
        return path
    rc = recompute(engine, round_key)
    meta = service.canonical_copy(_meta(rc.round))
    path = write_bundle(out, rc.inputs, rc.result, meta, audience, write=write)
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
