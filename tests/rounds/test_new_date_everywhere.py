"""A check's new date (延期, rounds/redates.py) read back from every place that names or uses
it: the deadlines list (``GET /deadlines``, ``findings deadlines``), the coordinator's
escalations, the coordinator's month and round pages, the inspector's page, and the links'
expiry. Each reads the date from the ``assignment`` rows, so each follows the new date.

Before, the escalations said a late check once, whatever its date: a check escalated, given
more time, and late again past its new date was never said again (the coordinator learned of
it only from the pages). Now a check is said once per date."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from api import inspector_tokens, tokens
from api.app import create_app
from findings import overdue
from notifications.models import Notification, NotificationKind
from notifications.outbox import enqueue_overdue_escalations
from rounds.redates import move_due_date
from shuangsui.cli import _register_groups, app
from shuangsui.config import get_settings
from tests.findings.factories import ROUND
from tests.findings.live import serve
from tests.workspace.helpers import (
    COORDINATOR,
    coordinator_client,
    delivered_round,
    open_assignment,
)

DRAWN_ON = dt.date(2026, 12, 7)  # the first day of the window: the dates are moved then
END = dt.date(2026, 12, 31)  # the window's last day: every check's date as drawn
LATER = dt.date(2027, 1, 29)
EARLIER = dt.date(2026, 12, 18)
READ_ON = dt.date(2027, 1, 5)  # the window closed: every check late but the one moved later
REASON = "企业停产整顿"


@pytest.fixture
def served(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, dict[str, list[str]], str]]:
    """The round drawn and its notices delivered, served; a coordinator's token."""
    teams = delivered_round(engine, monkeypatch)
    ssc = tokens.create_coordinator(engine, COORDINATOR, get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base:
        yield base, teams, ssc


def _today(monkeypatch: pytest.MonkeyPatch, day: dt.date) -> None:
    """The bureau's today, for the date's rules and for the lists and pages of the deadlines
    (``findings.overdue.Rules``: the month and round pages, ``GET /deadlines``)."""
    monkeypatch.setattr("rounds.replacements.bureau_today", lambda: day)
    rules = overdue.Rules.from_settings
    monkeypatch.setattr(overdue.Rules, "from_settings", lambda today=None: rules(today or day))


def _escalate(engine: sa.Engine, day: dt.date) -> list[dict[str, str]]:
    """The morning's escalations, committed: the late checks each new message tells the
    coordinator of, and the date it says each was due on."""
    with Session(engine) as s:
        before = set(s.exec(select(Notification.id)).all())
        enqueue_overdue_escalations(session=s, today=day)
        s.commit()
        rows = s.exec(
            select(Notification).where(Notification.kind == NotificationKind.overdue)
        ).all()
    return [dict(re.findall(r"（(\w+)），期限 ([\d-]+)，", n.body)) for n in rows
            if n.id not in before]  # fmt: skip


def _redate(engine: sa.Engine, code: str, day: dt.date) -> None:
    move_due_date(engine, ROUND, code, due_on=day, reason=REASON, recorded_by=COORDINATOR)


def test_every_place_reads_the_new_date(
    served: tuple[str, dict[str, list[str]], str],
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, teams, ssc = served
    later, earlier, again, *rest = sorted(teams)
    _today(monkeypatch, DRAWN_ON)
    _redate(engine, later, LATER)
    _redate(engine, earlier, EARLIER)
    _today(monkeypatch, READ_ON)
    late = {earlier, again, *rest}

    # the deadlines list: the function, the command and the API
    items = {i.credit_code: i for i in overdue.report(engine, round_keys=[ROUND])}
    assert (items[later].due, items[later].status) == (LATER, "ok")
    assert (items[earlier].due, items[earlier].status) == (EARLIER, "late")
    assert {c for c, i in items.items() if i.status == "late"} == late
    _register_groups()
    cli = CliRunner().invoke(app, ["findings", "deadlines", "--all", "--json", "--today",
                                   READ_ON.isoformat()])  # fmt: skip
    assert cli.exit_code == 0, cli.output
    listed = {i["credit_code"]: (i["due"], i["status"]) for i in json.loads(cli.output)}
    assert listed[later] == (LATER.isoformat(), "ok")
    assert listed[earlier] == (EARLIER.isoformat(), "late")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ssc}"}) as http:
        pending = http.get("/deadlines").json()
        everything = http.get("/deadlines", params={"all": "true"}).json()
    assert {i["credit_code"] for i in pending} == late
    assert {i["credit_code"]: i["due"] for i in everything}[later] == LATER.isoformat()

    # the escalations: the check moved later is not late at its old date
    (said,) = _escalate(engine, READ_ON)
    assert said == {earlier: EARLIER.isoformat(), **dict.fromkeys([again, *rest], END.isoformat())}

    # the coordinator's pages and the inspector's
    with coordinator_client(base, ssc) as http:
        month = http.get("/w/c/", params={"period": "2026-12"}).text
        round_page = http.get(f"/w/c/rounds/{ROUND}").text
        enterprise_page = http.get(f"/w/c/rounds/{ROUND}/e/{later}").text
    assert f"逾期 {len(late)} 家" in month
    assert re.search(rf'<tr id="e-{later}">', round_page)
    assert re.search(rf'<tr id="e-{earlier}" class="late">', round_page)
    assert f"<dt>结果截止</dt><dd><time>{LATER.isoformat()}</time>（" in enterprise_page
    for code, day in ((later, LATER), (earlier, EARLIER)):
        with httpx.Client(base_url=base) as http:
            _, page = open_assignment(http, base, code, teams[code][0])
        assert f"<dt>结果截止</dt><dd><time>{day.isoformat()}</time>（" in page

    # the links: they follow a later date, never end before the window's last day
    settings = get_settings()
    with Session(engine) as s:
        dues = {c: inspector_tokens.load(s, ROUND, c) for c in (later, earlier, again)}
    assert {c: access.due for c, access in dues.items() if access} == {
        later: LATER, earlier: END, again: END}  # fmt: skip
    assert inspector_tokens.expires_on(LATER, settings) > inspector_tokens.expires_on(END, settings)

    # a check escalated, then given more time, and late again past it: said again, once
    _redate(engine, again, dt.date(2027, 1, 20))
    assert _escalate(engine, dt.date(2027, 1, 20)) == []
    (said_again,) = _escalate(engine, dt.date(2027, 1, 21))
    assert said_again[again] == "2027-01-20" and later not in said_again
    assert _escalate(engine, dt.date(2027, 1, 22)) == []
    (last,) = _escalate(engine, dt.date(2027, 2, 1))  # the one moved later, late at last
    assert last[later] == LATER.isoformat()
    assert _escalate(engine, dt.date(2027, 2, 2)) == []


def test_escalations_made_before_the_dates_were_kept_are_not_said_again(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An escalation written before they kept the dates names its late checks alone: each is
    taken as said whatever its date, so the first morning after the upgrade does not say
    again every late check of every round still open (years of them)."""
    teams = delivered_round(engine, monkeypatch)
    assert len(_escalate(engine, READ_ON)) == 1
    with Session(engine) as s:
        (row,) = s.exec(select(Notification).where(Notification.kind == NotificationKind.overdue))
        row.payload = {"overdue": row.payload["overdue"]}  # as it was written then
        s.add(row)
        s.commit()
    assert _escalate(engine, READ_ON + dt.timedelta(days=1)) == []
    _today(monkeypatch, READ_ON)
    _redate(engine, sorted(teams)[0], dt.date(2027, 1, 20))
    assert _escalate(engine, dt.date(2027, 1, 21)) == []
