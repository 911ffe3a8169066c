"""Rows for notification tests, written straight through the models."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Engine
from sqlmodel import Session

from registry.models import Certificate, CheckItem, Enterprise, Inspector
from rounds.models import Assignment, PlanVersion, Round, RoundStatus

NOW = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
TODAY = date(2026, 11, 27)
DUE = date(2026, 12, 18)


@dataclass
class World:
    round_key: str
    enterprises: list[str]
    inspectors: list[str]


def _fit(model: type, **values: object) -> dict:
    """Only the fields ``model`` has (the rounds schema is still growing)."""
    return {k: v for k, v in values.items() if k in model.model_fields}  # type: ignore[attr-defined]


def credit_code(i: int) -> str:
    return f"91350100M{i:08d}X"[:18]


def make_round(
    engine: Engine,
    *,
    round_key: str = "R-2026-12-CCC",
    enterprises: int = 3,
    team_size: int = 2,
    inspector_contacts: list[dict] | None = None,
) -> World:
    """``enterprises`` enterprises, each checked by ``team_size`` of the inspectors, round robin.

    ``inspector_contacts``: one dict per inspector (email, webhook_url, webhook_kind, language).
    """
    contacts = inspector_contacts or [
        {"email": f"inspector{i}@bureau.example.cn"} for i in range(4)
    ]
    with Session(engine) as s:
        s.add(CheckItem(code="RZ-01", name="强制性产品认证证书及标志使用检查",
                        legal_basis="《强制性产品认证管理规定》", cert_kinds=["ccc"],
                        updated_at=NOW))  # fmt: skip
        doc = {"title": "2026年12月强制性产品认证双随机抽查", "legal_basis": ["《认证认证条例》"]}
        s.add(PlanVersion(plan_hash="a" * 64, plan_id="ccc-2026-12", check_item_code="RZ-01",
                          period="2026-12", yaml_text="", canonical_json=json.dumps(doc),
                          loaded_at=NOW))  # fmt: skip
        s.add(Round(**_fit(Round, round_key=round_key, plan_id="ccc-2026-12",
                    plan_hash="a" * 64, check_item_code="RZ-01",
                    kind="scheduled", period="2026-12", window_start=date(2026, 12, 1),
                    window_end=date(2026, 12, 31), status=RoundStatus.drawn,
                    frame_commitment="b" * 64, frame_merkle_root="c" * 64, frame_size=100,
                    inspector_commitment="d" * 64, inspector_merkle_root="e" * 64,
                    inspector_frame_size=10, constraints_commitment="f" * 64,
                    committed_at=NOW)))  # fmt: skip
        s.flush()
        ids = []
        for i, c in enumerate(contacts):
            iid = f"INSP{i:04d}"
            ids.append(iid)
            s.add(Inspector(inspector_id=iid, name=f"检查员{i}", unit=f"第{i}执法大队",
                            division_code="350100", credential_no=f"FJ{i:06d}",
                            credential_valid_from=date(2024, 1, 1),
                            credential_valid_until=date(2029, 1, 1), expertise=["ccc"],
                            updated_at=NOW, **c))  # fmt: skip
        codes = []
        for e in range(enterprises):
            code = credit_code(e)
            codes.append(code)
            s.add(Enterprise(credit_code=code, name=f"福州测试电器有限公司{e}",
                             division_code="350100", address=f"福州市鼓楼区测试路{e}号",
                             updated_at=NOW))  # fmt: skip
            s.flush()
            s.add(Certificate(body="CQC", number=f"2026010701{e:06d}", credit_code=code,
                              kind="ccc", scope="家用电器", issued_on=date(2026, 1, 1),
                              expires_on=date(2031, 1, 1), updated_at=NOW))  # fmt: skip
            s.add(Certificate(body="XYZ", number=f"ORG{e}", credit_code=code, kind="organic",
                              issued_on=date(2026, 1, 1), expires_on=date(2031, 1, 1),
                              updated_at=NOW))  # fmt: skip
        s.flush()
        for e, code in enumerate(codes):
            for p in range(team_size):
                iid = ids[(e + p) % len(ids)]
                s.add(Assignment(round_key=round_key, credit_code=code, inspector_id=iid,
                                 position=p, due_on=DUE))  # fmt: skip
        s.commit()
    return World(round_key, codes, ids)
