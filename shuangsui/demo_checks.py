"""The demo's inspectors at work: findings for part of a drawn round, signed by both team
members through the same service the findings API uses. Deterministic (seeded)."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from findings import service
from findings.categories import CertificateAction, MeasureKind, ResultCategory
from findings.schemas import CertificateOutcome, FindingIn, Measure
from registry.models import Certificate
from rounds.models import Assignment, Round

# share of checks by result, in the spirit of published 双随机 results
OUTCOMES = (
    (ResultCategory.no_problem, 78),
    (ResultCategory.ordered_to_rectify, 9),
    (ResultCategory.mark_misused, 5),
    (ResultCategory.certificate_suspended, 3),
    (ResultCategory.unreachable, 3),
    (ResultCategory.no_activity, 2),
)


def _finding(rng: random.Random, day: dt.date, certs: list[Certificate]) -> FindingIn:
    result = rng.choices([o for o, _ in OUTCOMES], weights=[w for _, w in OUTCOMES])[0]
    if result is ResultCategory.certificate_suspended and not certs:
        result = ResultCategory.no_problem
    outcomes, measures, text = (
        [],
        [],
        "现场核查认证证书、认证标志使用及获证产品一致性，未发现问题。",
    )
    if result is ResultCategory.ordered_to_rectify:
        measures = [Measure(kind=MeasureKind.rectify, deadline=day + dt.timedelta(days=30),
                            text="限期30日内整改认证标志使用问题")]  # fmt: skip
        text = "认证标志加施不规范，责令限期改正。"
    elif result is ResultCategory.mark_misused:
        measures = [Measure(kind=MeasureKind.rectify_now, text="责令立即停止不规范使用")]
        text = "产品包装上认证标志的式样不符合规定。"
    elif result is ResultCategory.certificate_suspended:
        c = certs[0]
        outcomes = [CertificateOutcome(body=c.body, number=c.number,
                                       action=CertificateAction.suspended)]  # fmt: skip
        text = "获证产品与型式试验样品关键件不一致，认证机构暂停证书。"
    elif result is ResultCategory.unreachable:
        text = "通过登记的住所无法取得联系。"
    elif result is ResultCategory.no_activity:
        text = "企业已停止生产获证产品。"
    return FindingIn(
        result=result, check_date=day, description=text, certificates=outcomes,
        measures=measures, internal_note="检查组内部记录：现场照片已归档",
    )  # fmt: skip


def teams_of(engine: Engine, round_key: str) -> dict[str, list[str]]:
    """The round's teams as they stand, by credit code, the lead first."""
    teams: dict[str, list[str]] = {}
    with Session(engine) as session:
        for a in session.exec(  # type: ignore[call-overload]
            select(Assignment)
            .where(col(Assignment.round_key) == round_key)
            .order_by(col(Assignment.credit_code), col(Assignment.position))
        ).scalars():
            teams.setdefault(a.credit_code, []).append(a.inspector_id)
    return teams


def inspect(engine: Engine, round_key: str, share: float, seed: int) -> int:
    """Findings for ``share`` of the round's enterprises; returns how many became final."""
    rng = random.Random(seed)
    teams = teams_of(engine, round_key)
    with Session(engine) as session:
        rnd = session.get(Round, round_key)
        assert rnd is not None
        codes = sorted(teams)
        checked = sorted(rng.sample(codes, int(len(codes) * share)))
        certs: dict[str, list[Certificate]] = {}
        for c in session.exec(  # type: ignore[call-overload]
            select(Certificate).where(Certificate.credit_code.in_(checked))  # type: ignore[attr-defined]
        ).scalars():
            certs.setdefault(c.credit_code, []).append(c)
    span = (rnd.window_end - rnd.window_start).days
    final = 0
    for code in checked:
        lead, *members = teams[code]
        day = rnd.window_start + dt.timedelta(days=rng.randint(0, span))
        data = _finding(rng, day, sorted(certs.get(code, []), key=lambda c: c.number))
        version = service.submit(
            engine, round_key=round_key, credit_code=code, data=data,
            submitted_by=f"inspector:{lead}", signers=[lead], via="demo",
            today=rnd.window_end,  # the demo plays the month through: checks are done by then
        )  # fmt: skip
        for member in members:
            state = service.sign_off(
                engine, round_key=round_key, credit_code=code,
                version=version.version, inspector_id=member,
            )  # fmt: skip
        final += bool(state.final)
    return final
