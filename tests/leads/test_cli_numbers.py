"""A number typed for a lead (``leads accept``, ``merge``, ``reject`` and ``--into``) or an
override (``risk approve``) past the largest id a row can have is refused naming it, as the API
refuses it (``LeadId``): it reached the database, whose refusal was a traceback, a DataError on
PostgreSQL (INTEGER is four bytes) and an OverflowError on SQLite past eight bytes. Exit 2, every
lead and override as it was, nothing audited. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from api import tokens
from leads import service
from leads.models import LeadStatus
from risk import overrides
from risk.models import OverrideStatus, RiskOverride
from rounds import audit
from shuangsui.config import get_settings
from tests.deploy.procs import shuangsui
from tests.leads.helpers import complaint
from tests.rounds.factories import seed_registry

PAST_INT4 = "2147483648"  # one past PostgreSQL's INTEGER
PAST_INT8 = "99999999999999999999"  # past SQLite's too


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["leads", "reject", PAST_INT4, "--reason", "重复", "--by", "林科长"], "'lead_id'"),
        (["leads", "accept", PAST_INT8, "--check-item", "CCC-01", "--by", "林科长"], "'lead_id'"),
        (["leads", "merge", "{a}", "--into", PAST_INT4, "--by", "林科长"], "'--into'"),
        (["leads", "merge", PAST_INT8, "--into", "{a}", "--by", "林科长"], "'lead_id'"),
        (["risk", "approve", PAST_INT4, "--by", "陈明"], "'override_id'"),
        (["risk", "approve", PAST_INT8, "--by", "陈明"], "'override_id'"),
    ],
)
def test_a_number_past_any_row_is_refused_naming_it(
    tmp_path: Path, engine: sa.Engine, db_url: str, args: list[str], named: str
) -> None:
    code = seed_registry(engine, enterprises=3)[0]
    lead = complaint(engine, code)
    for name in ("林科长", "陈明"):
        tokens.create_coordinator(engine, name, get_settings().bureau_code)
    asked = overrides.request(engine, credit_code=code, risk_class="D", reason="复查", by="林科长")
    with Session(engine) as s:
        events = len(audit.load_chain(s))
    proc = shuangsui(tmp_path, *(a.format(a=lead) for a in args), SHUANGSUI_DATABASE_URL=db_url)
    said = " ".join(proc.stderr.replace("│", " ").split())
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert f"Invalid value for {named}" in said and "2147483647" in said, said
    assert "Traceback" not in proc.stderr
    assert service.get(engine, lead).status is LeadStatus.received
    with Session(engine) as s:
        row = s.get(RiskOverride, asked.id)
        assert row is not None and row.status == OverrideStatus.pending
        assert len(audit.load_chain(s)) == events
