"""A late or broken registry import must not lose the month: monthly-round holds the round
(no key used, the coordinator told once, an artifact says why) and commits it on a later run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from sqlmodel import Session, select

from flows.rounds import monthly_round
from notifications.models import Notification, NotificationKind
from registry.models import CheckItem, RegistryImport
from rounds.models import AuditEvent, Round
from shuangsui import config
from tests.rounds.factories import NOW, plan_yaml, seed_registry

DIGITS = "16180339887498948482045868"


@pytest.fixture
def plans_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "plans"
    d.mkdir()
    (d / "ccc-2026-12.yaml").write_text(plan_yaml(), encoding="utf-8")
    monkeypatch.setenv("SHUANGSUI_PLANS_DIR", str(d))
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    config.get_settings.cache_clear()
    return d


def _held_alerts(engine: sa.Engine) -> list[Notification]:
    with Session(engine) as s:
        kind = NotificationKind.round_held
        return list(s.exec(select(Notification).where(Notification.kind == kind)).all())


def _artifact(key: str) -> str:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    # the session's harness keeps other tests' artifacts under the same key: the newest is ours
    return str(max(found, key=lambda a: a.created).data) if found else ""


@pytest.mark.usefixtures("prefect_harness")
def test_monthly_round_holds_an_empty_then_a_stale_registry_and_commits_once_fixed(
    engine: sa.Engine, plans_dir: Path
) -> None:
    # only the check items imported: the population is empty
    with Session(engine) as s:
        s.add(CheckItem(code="CCC-01", name="强制性产品认证获证产品一致性检查",
                        legal_basis="《强制性产品认证管理规定》", cert_kinds=["ccc"],
                        updated_at=NOW))  # fmt: skip
        s.add(RegistryImport(batch_id="items", at=dt.datetime.now(dt.UTC)))
        s.commit()
    (held,) = monthly_round(period="2026-12", witness_digits=DIGITS, witnesses=["王五"])
    assert held["status"] == "held" and "population is empty" in held["reasons"][0]
    with Session(engine) as s:
        assert s.get(Round, "ccc-2026-12") is None  # the key is still free
        assert s.exec(select(AuditEvent)).all() == []
    (alert,) = _held_alerts(engine)
    assert alert.recipient == "coordinator" and "population is empty" in alert.body
    assert "held" in _artifact("round-ccc-2026-12") and "population is empty" in _artifact(
        "round-ccc-2026-12"
    )
    # the same problem on the next run: held again, the coordinator is not told twice
    monthly_round(period="2026-12", witness_digits=DIGITS, witnesses=["王五"])
    assert len(_held_alerts(engine)) == 1

    # the registry arrives, but its import is 40 days old: held for another reason
    with Session(engine) as s:
        s.delete(s.get(CheckItem, "CCC-01"))  # the factory brings it again
        s.commit()
    seed_registry(engine)
    with Session(engine) as s:
        for row in s.exec(select(RegistryImport)).all():
            row.at = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
            s.add(row)
        s.commit()
    (stale,) = monthly_round(period="2026-12", witness_digits=DIGITS, witnesses=["王五"])
    assert stale["status"] == "held" and "more than 35 days ago" in " ".join(stale["reasons"])
    assert len(_held_alerts(engine)) == 2

    # a fresh import: the next run commits and draws the round
    with Session(engine) as s:
        s.add(RegistryImport(batch_id="fresh", at=dt.datetime.now(dt.UTC)))
        s.commit()
    (drawn,) = monthly_round(period="2026-12", witness_digits=DIGITS, witnesses=["王五"])
    assert drawn["status"] == "drawn" and drawn["frame_size"] == 60
