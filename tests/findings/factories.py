"""A drawn round to record findings against, and final findings for it."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Session, select

from findings import service
from findings.schemas import FindingIn
from rounds import service as rounds
from rounds.models import Assignment
from tests.rounds.factories import plan_yaml, seed_registry

ROUND = "ccc-2026-12"


def drawn_round(
    engine: sa.Engine, *, draw_version: int = rounds.CURRENT_VERSION, **kw: int
) -> dict[str, list[str]]:
    """Seed, commit and draw ``ccc-2026-12``; the teams by credit code (lead first)."""
    seed_registry(engine, **kw)
    rounds.commit_round(engine=engine, plan_text=plan_yaml(), draw_version=draw_version)
    return draw(engine)


def draw(engine: sa.Engine) -> dict[str, list[str]]:
    """Draw the committed ``ccc-2026-12`` (one witness's digits); the teams by credit code."""
    rounds.draw_round(
        engine=engine,
        round_key=ROUND,
        entropy=rounds.EntropyInput(
            witness_digits="3141592653589793238462643", witnesses=("张三",)
        ),
    )
    return teams(engine)


def teams(engine: sa.Engine, round_key: str = ROUND) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with Session(engine) as s:
        rows = s.exec(
            select(Assignment)
            .where(Assignment.round_key == round_key)
            .order_by(Assignment.credit_code, Assignment.position)
        ).all()
    for a in rows:
        out.setdefault(a.credit_code, []).append(a.inspector_id)
    return out


def finding(result: str = "no_problem", **kw: object) -> FindingIn:
    data: dict[str, object] = {"result": result, "check_date": dt.date(2026, 12, 10)}
    data.update(kw)
    return FindingIn.model_validate(data)


def final_finding(engine: sa.Engine, code: str, team: list[str], **kw: object) -> int:
    """Submit by the lead, sign by the rest: a final version; returns its number."""
    v = service.submit(
        engine,
        round_key=ROUND,
        credit_code=code,
        data=finding(**kw),
        submitted_by=f"inspector:{team[0]}",
        signers=[team[0]],
    )
    for member in team[1:]:
        service.sign_off(
            engine, round_key=ROUND, credit_code=code, version=v.version, inspector_id=member
        )
    return v.version
