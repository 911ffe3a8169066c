"""Small registries and plans for round tests, written straight through the models."""

from __future__ import annotations

import calendar
import datetime as dt
import random
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from stdnum.cn import uscc

from registry.models import (
    Certificate,
    CheckItem,
    Conflict,
    Enterprise,
    Inspector,
    RegistryImport,
)

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
DIVISIONS = ["350100", "350200", "350500", "350600"]


def credit_code(rng: random.Random, division: str) -> str:
    body = "91" + division + "".join(rng.choice(ALPHABET[:10] + ALPHABET[10:]) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def plan_yaml(
    *,
    plan_id: str = "ccc-2026-12",
    period: str = "2026-12",
    size: int = 2,
    workload_cap: int = 10,
    min_per_stratum: int = 1,
    rates: str = "{A: '10%', B: '20%', C: '40%', D: '100%'}",
    extra: str = "",
    division: str = "350000",
) -> str:
    year, month = (int(x) for x in period.split("-"))
    last = calendar.monthrange(year, month)[1]
    return f"""
id: {plan_id}
check_item: CCC-01
period: '{period}'
title: 强制性产品认证获证产品一致性检查
legal_basis: ['《强制性产品认证管理规定》', '国市监信〔2019〕38号']
population:
  cert_kinds: [ccc]
  divisions: ['{division}']
strata:
  by: [division, risk_class]
  rates: {rates}
  min_per_stratum: {min_per_stratum}
teams:
  size: {size}
  workload_cap: {workload_cap}
window:
  start: {period}-07
  end: {period}-{last}
{extra}
"""


def plans_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *,
                 files: dict[str, str] | None = None) -> Path:  # fmt: skip
    """A plans folder under ``tmp_path`` holding ``files`` (name: YAML; by default
    ``ccc.yaml``, :func:`plan_yaml`), made the plans directory (SHUANGSUI_PLANS_DIR)."""
    from shuangsui.config import get_settings

    plans = tmp_path / "plans"
    plans.mkdir()
    for name, text in (files or {"ccc.yaml": plan_yaml()}).items():
        (plans / name).write_text(text, encoding="utf-8")
    monkeypatch.setenv("SHUANGSUI_PLANS_DIR", str(plans))
    get_settings.cache_clear()
    return plans


def seed_registry(
    engine: sa.Engine,
    *,
    enterprises: int = 60,
    inspectors: int = 12,
    seed: int = 7,
    province: str = "35",
) -> list[str]:
    """Enterprises with one CCC certificate each, inspectors who may check CCC, a check item,
    recorded as imported just now (a round's preflight asks how fresh the registry is)."""
    rng = random.Random(seed)
    codes: list[str] = []
    places = [province + d[2:] for d in DIVISIONS]
    with Session(engine) as session:
        session.add(RegistryImport(batch_id=uuid.uuid4().hex, at=dt.datetime.now(dt.UTC)))
        session.add(
            CheckItem(
                code="CCC-01",
                name="强制性产品认证获证产品一致性检查",
                legal_basis="《强制性产品认证管理规定》",
                cert_kinds=["ccc"],
                updated_at=NOW,
            )
        )
        certs = []
        for i in range(enterprises):
            division = places[i % len(places)]
            code = credit_code(rng, division)
            codes.append(code)
            session.add(
                Enterprise(
                    credit_code=code,
                    name=f"测试企业{i}有限公司",
                    division_code=division,
                    risk_class=rng.choice("AABBCD"),
                    updated_at=NOW,
                )
            )
            certs.append(
                Certificate(
                    body="CQC",
                    number=f"2026010{i:09d}",
                    credit_code=code,
                    kind="ccc",
                    issued_on=dt.date(2025, 1, 1),
                    expires_on=dt.date(2030, 1, 1),
                    updated_at=NOW,
                )
            )
        session.flush()
        session.add_all(certs)
        session.flush()
        for j in range(inspectors):
            session.add(
                Inspector(
                    inspector_id=f"FJ{j:04d}",
                    name=f"检查员{j}",
                    unit="福建省认证执法局",
                    division_code=places[j % len(places)],
                    credential_no=f"闽执{j:06d}",
                    credential_valid_from=dt.date(2024, 1, 1),
                    credential_valid_until=dt.date(2029, 1, 1),
                    expertise=["ccc"],
                    email=f"inspector{j}@example.org",
                    updated_at=NOW,
                )
            )
        session.flush()
        session.add(
            Conflict(
                inspector_id="FJ0000",
                credit_code=codes[0],
                reason="亲属任职",
                declared_on=dt.date(2026, 1, 1),
                updated_at=NOW,
            )
        )
        session.commit()
    return codes
