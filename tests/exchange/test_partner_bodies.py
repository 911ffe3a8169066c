"""A partner's signed entries whose values our tables cannot hold as sent: a credit code past
18 characters or holding a NUL, a NUL in an entry's id or in an assistance request. On
PostgreSQL each stopped the sync with a raw ``DataError`` (at the same entry, every time, so
nothing of that partner was ever applied again); SQLite stored them. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from exchange import log
from exchange.directory import load_directory
from exchange.models import AssistanceCase, PartnerEntry, PartnerState
from exchange.sync import sync_partner
from tests.exchange import test_sync
from tests.exchange.bureaus import publish

pair = test_sync.pair  # Fujian here, Shanghai in process (the fixture)

RESULT = {"check_item": "CCC-01", "inspected_on": "2026-11-15", "outcome": "合格",
          "round_key": "r-1", "summary": ""}  # fmt: skip
REQUEST = {"to": "350000", "credit_code": "91350100MA0000001X", "check_item": "CCC-01",
           "reason": "协查", "window": {"start": "2026-12-01", "end": "2026-12-31"}}  # fmt: skip


def _append(bureau: Any, entry_id: str, kind: str, body: dict[str, Any]) -> None:
    with Session(bureau.engine) as s:
        log.append(s, origin=bureau.origin, entry_id=entry_id, kind=kind, body=body)
        s.commit()


@pytest.mark.parametrize("code", ["91350100MA0000001X-TOO-LONG", "91350100MA00\x0001X"])
def test_a_result_whose_code_no_column_holds_is_kept_without_it(
    engine: sa.Engine, pair: Any, code: str
) -> None:
    sh, transport = pair
    _append(sh, "result/odd/1", "result", RESULT | {"credit_code": code})
    publish(sh, "91350100MA0000002X", n=2)  # and what comes after it is applied too
    out = sync_partner(engine, load_directory()["310000"], transport=transport)
    assert (out.status, out.applied) == ("ok", 2)
    with Session(engine) as s:
        rows = s.exec(select(PartnerEntry).order_by(col(PartnerEntry.seq))).all()
    assert [(r.entry_id, r.credit_code) for r in rows] == [
        ("result/odd/1", None), ("result/310000/91350100MA0000002X/2", "91350100MA0000002X")
    ]  # fmt: skip
    assert json.loads(rows[0].body)["body"]["credit_code"] == code  # the entry, whole


@pytest.mark.parametrize(
    "changed",
    [{"credit_code": "91350100MA0000001X-TOO-LONG"}, {"reason": "协查\x00请求"},
     {"request_id": "r\x00-1"}],
)  # fmt: skip
def test_an_assistance_request_that_cannot_be_stored_opens_no_case(
    engine: sa.Engine, pair: Any, changed: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    sh, transport = pair
    _append(sh, "assistance-request/odd/1", "assistance-request",
            {"request_id": "r-1"} | REQUEST | changed)  # fmt: skip
    publish(sh, "91350100MA0000002X", n=2)
    with caplog.at_level(logging.WARNING, logger="exchange.apply"):
        out = sync_partner(engine, load_directory()["310000"], transport=transport)
    assert (out.status, out.applied) == ("ok", 2)
    with Session(engine) as s:
        assert s.exec(select(AssistanceCase)).all() == []
    assert "assistance request of entry 0 from 310000 opens no case" in caplog.text


def test_an_entry_id_with_a_nul_fails_the_sync_naming_it(engine: sa.Engine, pair: Any) -> None:
    """An id is the key other entries name (``supersedes``): not altered, refused as any
    malformed entry is."""
    sh, transport = pair
    _append(sh, "result/odd\x00/1", "result", RESULT | {"credit_code": "91350100MA0000001X"})
    out = sync_partner(engine, load_directory()["310000"], transport=transport)
    assert (out.status, out.applied) == ("refused", 0)
    with Session(engine) as s:
        state = s.get(PartnerState, "310000")
    assert state is not None
    assert "entry 0: id holds a control or invisible character" in (state.last_error or "")
