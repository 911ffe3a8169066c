"""A coordinator's token revoked while a write made with it is under way: the write is refused
as the token would be refused at the start of a request (the API: 403 ``token-refused``; the
workspace: the page of a revoked token) and leaves nothing; a write that has checked the token
first commits first, and the revocation after it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import ModuleType
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from findings import service
from findings.dates import today
from findings.models import Finding
from leads import service as leads
from leads.models import Lead, LeadStatus
from leads.schemas import LeadIn
from notifications.models import Notification, NotificationStatus
from registry.models import CheckItem
from rounds.models import AuditEvent
from shuangsui import writes
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, finding
from tests.races import held_until_blocked, held_while
from tests.workspace.helpers import COORDINATOR as ME
from tests.workspace.helpers import coordinator_client, csrf_of, dead_letter
from workspace import coordinator


def _events(engine: sa.Engine, name: str) -> list[str]:
    with Session(engine) as s:
        return list(s.exec(select(AuditEvent.event).where(AuditEvent.event == name)).all())


def _posted_while_revoked(
    live: tuple[str, dict, str],
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    at: tuple[ModuleType, str],
    page: str,
    action: str,
    *,
    fields: dict[str, str] | None = None,
    files: dict[str, Any] | None = None,
) -> tuple[httpx.Response, httpx.Response]:
    """The coordinator signs in and posts ``action``'s form (``page``'s CSRF token, ``fields``
    and an upload of ``files``), held at ``at`` while its token is revoked (committed): what it
    got back, and what the same form gets afterwards."""
    base, _teams, ssc = live
    with coordinator_client(base, ssc, timeout=60) as http:
        form = {"csrf": csrf_of(http.get(page).text), **(fields or {})}
        r = held_while(
            monkeypatch,
            at,
            lambda: http.post(action, data=form, files=files),
            meanwhile=lambda: tokens.revoke(engine, ME),
        )
        return r, http.post(action, data=form, files=files)


def test_an_api_correction_whose_token_is_revoked_meanwhile_is_refused(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, teams, ssc = coordinator_live
    code = sorted(teams)[0]
    url = f"/findings/{ROUND}/{code}"
    body = {"result": "no_problem", "check_date": "2026-12-10"}
    bearer = {"Authorization": f"Bearer {ssc}"}
    with httpx.Client(base_url=base, timeout=60) as http:
        r = held_while(
            monkeypatch,
            (writes, "lock_writes"),  # the start of the finding's write transaction
            lambda: http.post(url, json=body, headers=bearer),
            meanwhile=lambda: tokens.revoke(engine, ME),
        )
        at_the_door = http.post(url, json=body, headers=bearer)
    assert r.status_code == 403, r.text
    assert r.json()["type"] == "urn:shuangsui:problem:token-refused"
    assert r.json() == at_the_door.json()  # as if it had come after the revocation
    with Session(engine) as s:
        assert s.exec(select(Finding).where(Finding.credit_code == code)).all() == []
    assert _events(engine, "FindingRecorded") == []


def test_a_workspace_retry_whose_token_is_revoked_meanwhile_is_refused(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_id = dead_letter(engine)
    r, at_the_door = _posted_while_revoked(
        coordinator_live, engine, monkeypatch,
        (coordinator, "_requeue"), f"/w/c/rounds/{ROUND}", f"/w/c/rounds/{ROUND}/retry-dead",
    )  # fmt: skip
    assert r.status_code == 401 and "协调员令牌已被撤销" in r.text, r.text
    assert at_the_door.status_code == 401 and r.text == at_the_door.text
    with Session(engine) as s:
        assert s.get(Notification, dead_id).status == NotificationStatus.dead  # type: ignore[union-attr]
    assert _events(engine, "DeadLettersRequeued") == []


def _lead(engine: sa.Engine, code: str) -> int:
    received_on = today() - dt.timedelta(days=3)
    data = {"source": "complaint", "credit_code": code, "category": "虚假认证",
            "received_on": received_on, "allegation": "未加施CCC标志"}  # fmt: skip
    lead = leads.receive(engine, LeadIn.model_validate(data), by="林科长")
    assert lead.id is not None
    return lead.id


def _still_received(engine: sa.Engine, lead_id: int) -> None:
    with Session(engine) as s:
        lead = s.get(Lead, lead_id)
    assert lead is not None and lead.status is LeadStatus.received and not lead.decided_by
    for name in ("LeadAccepted", "LeadRejected", "LeadMerged"):
        assert _events(engine, name) == []


def test_an_api_lead_decision_whose_token_is_revoked_meanwhile_is_refused(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, teams, ssc = coordinator_live
    lead_id = _lead(engine, sorted(teams)[0])
    url, body = f"/leads/{lead_id}/reject", {"reason": "不属于本局管辖"}
    bearer = {"Authorization": f"Bearer {ssc}"}
    with httpx.Client(base_url=base, timeout=60) as http:
        r = held_while(
            monkeypatch,
            (leads, "_decide"),  # the reason checked, the lead not yet locked
            lambda: http.post(url, json=body, headers=bearer),
            meanwhile=lambda: tokens.revoke(engine, ME),
        )
        at_the_door = http.post(url, json=body, headers=bearer)
    assert r.status_code == 403 and r.json() == at_the_door.json(), r.text
    _still_received(engine, lead_id)


def test_a_workspace_lead_decision_whose_token_is_revoked_meanwhile_is_refused(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, teams, _ = coordinator_live
    lead_id = _lead(engine, sorted(teams)[0])
    with Session(engine) as s:
        item = s.exec(select(CheckItem.code)).first()
    assert item is not None
    r, at_the_door = _posted_while_revoked(
        coordinator_live, engine, monkeypatch,
        (leads, "_decide"), f"/w/c/leads/{lead_id}", f"/w/c/leads/{lead_id}/accept",
        fields={"check_item": item},
    )  # fmt: skip
    assert r.status_code == 401 and "协调员令牌已被撤销" in r.text, r.text
    assert at_the_door.status_code == 401 and r.text == at_the_door.text
    _still_received(engine, lead_id)


def test_a_token_replaced_or_of_another_bureau_is_refused_in_the_write(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """The check is of the token the request came with: another token of the same name (its
    hash), or one of another bureau, refuses the write."""
    _, teams, ssc = coordinator_live
    code = sorted(teams)[0]
    bureau = get_settings().bureau_code
    binding = tokens.token_hash(ssc)

    def submit(check: Callable[[Session], None]) -> Any:
        by = f"coordinator:{ME}"
        return service.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                              submitted_by=by, allowed=check)  # fmt: skip

    for check in (
        tokens.still_current(ME, bureau, tokens.token_hash("ssc_another")),
        tokens.still_current(ME, "320000", binding),
        tokens.still_current("nobody", bureau, binding),
        tokens.still_current(ME, bureau, ""),
    ):
        with pytest.raises(tokens.CoordinatorRefused):
            submit(check)
    assert submit(tokens.still_current(ME, bureau, binding[:16])).version == 1


@pytest.mark.postgres
def test_a_revocation_waits_for_a_write_that_checked_the_token_first(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    """The write has checked the token and is about to write when the revocation starts: the
    revocation waits until the write has committed. PostgreSQL, where each statement reads
    what is committed when it starts; SQLite's writers hold the database's write lock."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks; SQLite serialises writers")
    _, teams, ssc = coordinator_live
    code = sorted(teams)[0]

    def write(allowed: Callable[[Session], None]) -> Any:
        by = f"coordinator:{ME}"
        return service.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                              submitted_by=by, signers=[], allowed=allowed)  # fmt: skip

    written = held_until_blocked(
        engine,
        write,
        tokens.still_current(ME, get_settings().bureau_code, tokens.token_hash(ssc)),
        meanwhile=lambda: tokens.revoke(engine, ME),
        message="the revocation committed while a checked write was open",
    )
    assert written.version == 1
    with Session(engine) as s:
        chain = s.exec(select(AuditEvent.event).order_by(AuditEvent.seq)).all()  # type: ignore[arg-type]
    names = [e for e in chain if e in ("FindingRecorded", "CoordinatorTokenRevoked")]
    assert names == ["FindingRecorded", "CoordinatorTokenRevoked"]


def test_a_findings_import_whose_token_is_revoked_meanwhile_is_refused(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The round's findings imported from its page, the token revoked once the upload is read
    and the import has begun its transaction: the page of a revoked token, nothing imported."""
    _, teams, _ = coordinator_live
    code, team = sorted(teams.items())[0]
    csv = ("轮次,统一社会信用代码,检查结果,检查日期,签字人员\n"
           f"{ROUND},{code},未发现问题,2026-12-10,{';'.join(team)}\n").encode()  # fmt: skip
    r, at_the_door = _posted_while_revoked(
        coordinator_live, engine, monkeypatch,
        (writes, "lock_writes"),  # the import's transaction has begun
        f"/w/c/rounds/{ROUND}", f"/w/c/rounds/{ROUND}/import",
        files={"file": ("结果.csv", csv, "text/csv")},
    )  # fmt: skip
    assert r.status_code == 401 and "协调员令牌已被撤销" in r.text, r.text
    assert at_the_door.status_code == 401 and r.text == at_the_door.text
    with Session(engine) as s:
        assert s.exec(select(Finding).where(Finding.credit_code == code)).all() == []
    assert _events(engine, "FindingsImported") == []
