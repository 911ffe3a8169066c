"""A publish checks the audit log once, before its first bundle, not once a bundle (a publish of
every round checked the whole log once a round: 122 times, most of a 57 s publish, at five
years of rounds); an altered log still stops the publish before any bundle is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from rounds import audit, service
from rounds.models import AuditEvent
from shuangsui.errors import IntegrityError
from tests.rounds.factories import plan_yaml, seed_registry
from website.site import publish

KEYS = ("ccc-2026-12", "ccc-2027-01", "ccc-2027-02")


def _three_drawn_rounds(engine: sa.Engine) -> None:
    seed_registry(engine)
    for key in KEYS:
        service.commit_round(engine=engine, plan_text=plan_yaml(plan_id=key, period=key[4:]))
        service.draw_round(engine=engine, round_key=key,
                           entropy=service.EntropyInput(witness_digits="31415926535897932384",
                                                        witnesses=("张三",)))  # fmt: skip


def test_a_publish_of_three_bundles_checks_the_audit_log_once(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _three_drawn_rounds(engine)
    checked: list[int] = []
    verify = audit.verify_chain

    def counted(rows: list[AuditEvent]) -> int:
        checked.append(verify(rows))
        return checked[-1]

    monkeypatch.setattr(audit, "verify_chain", counted)
    report = publish(engine, tmp_path / "site")
    for key in KEYS:
        assert (tmp_path / "site" / "rounds" / key / "bundle" / "MANIFEST.sha256").is_file()
    with Session(engine) as s:
        events = len(s.exec(select(AuditEvent)).all())
    assert checked == [events] and report.audit_events == events


def test_an_altered_audit_log_stops_the_publish_before_any_bundle(
    engine: sa.Engine, tmp_path: Path
) -> None:
    _three_drawn_rounds(engine)
    with Session(engine) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.seq == 2)).one()
        event.payload += " "  # one byte more
        s.add(event)
        s.commit()
    with pytest.raises(IntegrityError, match="event 2 .* was altered"):
        publish(engine, tmp_path / "site")
    assert not list((tmp_path / "site").glob("rounds/*/bundle/*"))
