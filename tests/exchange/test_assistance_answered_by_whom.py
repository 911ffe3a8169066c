"""Our assistance request answered, or its result published, by a partner we did not ask.

Fujian (here) asks Zhejiang; Shanghai, another partner of the directory (a real ``serve`` app
on loopback), logs a signed ``assistance-answer`` declining Fujian's request, and a ``result``
naming it. Each was taken: the case was declined with Shanghai's reason as the answer (and
Zhejiang's own answer would then be ignored, the case no longer pending), or completed with
Shanghai's result. Now only the bureau the request went to answers or completes it; the entries
are kept in the partner's log as every entry is, and the sync is ok. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from exchange import assistance, log
from exchange.directory import load_directory
from exchange.keys import load_or_create
from exchange.models import AssistanceCase
from exchange.sync import sync_partner
from tests.exchange.bureaus import Bureau, make_bureau, served, write_directory

CODE = "91330100MA2AYW9G3K"


@pytest.fixture
def shanghai(engine: sa.Engine, tmp_path: Path) -> Iterator[Bureau]:
    """Shanghai served on loopback, Zhejiang listed and never reached; Fujian is ``engine``."""
    sh, zj = make_bureau(tmp_path, "310000"), make_bureau(tmp_path, "330000")
    fj = make_bureau(tmp_path / "unused", "350000")
    fj.key, fj.base_url, zj.base_url = load_or_create(), "http://127.0.0.1:9", "http://127.0.0.1:9"
    write_directory(sh.home / "partners.toml", [fj])
    with served(sh) as url:
        sh.base_url = url
        write_directory(tmp_path / "home" / "partners.toml", [sh, zj])
        yield sh


def _append(bureau: Bureau, entry_id: str, kind: str, body: dict[str, Any]) -> None:
    with Session(bureau.engine) as s:
        log.append(s, origin=bureau.origin, entry_id=entry_id, kind=kind, body=body)
        s.commit()


def _ask_zhejiang(engine: sa.Engine) -> str:
    case = assistance.request_assistance(
        engine, to="330000", credit_code=CODE, division="330100", check_item="CCC-01",
        cert_kinds=["ccc"], reason="请协查", window_start=dt.date(2026, 12, 10),
        window_end=dt.date(2026, 12, 31),
    )  # fmt: skip
    return case.request_id


def _case(engine: sa.Engine, request_id: str) -> AssistanceCase:
    with Session(engine) as s:
        case = s.get(AssistanceCase, ("350000", request_id))
        assert case is not None
        return case


def test_an_answer_from_a_partner_not_asked_is_not_taken(
    engine: sa.Engine, shanghai: Bureau, caplog: pytest.LogCaptureFixture
) -> None:
    request_id = _ask_zhejiang(engine)
    answer = {"request": {"origin": "shuangsui.350000", "request_id": request_id, "seq": 0,
                          "leaf_hash": "00" * 32},
              "decision": "declined", "reason": "企业已注销，无法协查"}  # fmt: skip
    _append(shanghai, f"assistance-answer/350000/{request_id}", "assistance-answer", answer)
    with caplog.at_level(logging.WARNING, logger="exchange.apply"):
        out = sync_partner(engine, load_directory()["310000"])
    assert (out.status, out.applied) == ("ok", 1)
    case = _case(engine, request_id)
    assert (case.status, case.answer) == ("pending", None)
    assert f"names our assistance request {request_id}, which went to 330000" in caplog.text


def test_a_result_from_a_partner_not_asked_does_not_complete_the_request(
    engine: sa.Engine, shanghai: Bureau
) -> None:
    request_id = _ask_zhejiang(engine)
    result = {"credit_code": CODE, "check_item": "CCC-01", "inspected_on": "2026-12-15",
              "outcome": "合格", "round_key": "assist-1", "summary": "",
              "assistance": {"requester": "350000", "request_id": request_id}}  # fmt: skip
    _append(shanghai, f"result/310000/{CODE}/1", "result", result)
    out = sync_partner(engine, load_directory()["310000"])
    assert (out.status, out.applied) == ("ok", 1)
    case = _case(engine, request_id)
    assert (case.status, case.result) == ("pending", None)
