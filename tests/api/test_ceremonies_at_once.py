"""Two coordinators enter a committed round's ceremony (摇号仪式: the round page's form,
confirmed, or ``POST /rounds/adhoc`` with ``round_id`` and digits): exactly one draw is made.
Both were answered that the draw was under way (303 已提交仪式数字，摇号进行中; 202), the one
whose digits were not used told only later (the round's page, ``refused_ceremonies``), after a
page that said 摇号进行中 until refreshed. Now the second is told in the answer, where it can be
known then (``api.adhoc.run_ceremony``): while the first ceremony's draw runs in this server
(409: the page's 您提交的仪式数字未被采用：<who> 已于 <when> 提交本轮的仪式数字…, the API's
problem naming ``entered_by`` and ``entered_at``), or once the round is drawn with other digits
(409, ``drawn``: the refusal audited, ``DrawRefused``, as the draw's own). The same ceremony
again (a retry) is taken.

At once: both posts sent together over real HTTP to a real server, the first ceremony's draw
held until the second has its answer. On PostgreSQL the two requests' transactions run at once;
SQLite serialises writers (its requests take turns writing), and the claim is taken before any
write, so the outcome is the same there. One after the other: SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from api import tokens
from api.app import create_app
from rounds import service
from rounds.models import AuditEvent, RoundKind
from shuangsui.config import get_settings
from tests.findings.live import serve
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import csrf_of, sign_in

KEY = "ccc-2026-12-adhoc-1"
DIGITS = {"李协调": "27182818284590452353", "王协调": "31415926535897932384"}


class Served:
    """A committed ad hoc round, served with runners that draw as the draw-round flow does (in
    the request's thread, so that the draw is made when the answer comes); ``hold``: set, the
    draw waits until it is cleared."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.hold = threading.Event()
        self.released = threading.Event()
        self.drawn_by: list[str] = []

    def runner(self, params: dict[str, Any]) -> dict[str, Any]:
        if self.hold.is_set():
            assert self.released.wait(60), "the other ceremony never got its answer"
        entropy = service.EntropyInput(params["witness_digits"], tuple(params["witnesses"]))
        service.draw_round(engine=self.engine, round_key=params["round_key"], entropy=entropy,
                           requested_by=params["requested_by"])  # fmt: skip
        self.drawn_by.append(params["requested_by"])
        return {"mode": "test", "round_key": KEY, "state": "running"}

    def adhoc(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.runner({"round_key": params["round_id"]} | params)


@pytest.fixture
def served(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Served]]:
    plans_folder(tmp_path, monkeypatch)
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                         round_key=KEY, requested_by="李协调", reason="投诉举报")  # fmt: skip
    it = Served(engine)
    app = create_app(engine=engine, draw_runner=it.runner, adhoc_runner=it.adhoc)
    with serve(app) as base:
        yield base, it


def _events(engine: sa.Engine) -> list[AuditEvent]:
    with Session(engine) as s:
        query = select(AuditEvent).where(col(AuditEvent.round_key) == KEY)
        return [e for e in s.exec(query) if e.event in ("DrawMade", "DrawRefused")]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _tokens(engine: sa.Engine) -> dict[str, str]:
    return {name: tokens.create_coordinator(engine, name, get_settings().bureau_code)
            for name in DIGITS}  # fmt: skip


def _pages(base: str, engine: sa.Engine) -> dict[str, httpx.Client]:
    clients = {}
    for name, token in _tokens(engine).items():
        http = httpx.Client(base_url=base, timeout=120)
        assert sign_in(http, f"/w/c/open?token={token}").status_code == 303
        clients[name] = http
    return clients


def _confirm(http: httpx.Client, name: str, csrf: str) -> httpx.Response:
    form = {"csrf": csrf, "witnesses": "王五", "witness_digits": DIGITS[name], "confirmed": "1"}
    return http.post(f"/w/c/rounds/{KEY}/ceremony", data=form)


def _api(tokens_of: dict[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"Authorization": f"Bearer {token}"} for name, token in tokens_of.items()}


def _post(base: str, auth: dict[str, str], name: str) -> httpx.Response:
    body = {"plan": "ccc-2026-12", "reason": "投诉举报", "round_id": KEY,
            "witness_digits": DIGITS[name], "witnesses": ["王五"]}  # fmt: skip
    return httpx.post(f"{base}/rounds/adhoc", headers=auth, json=body, timeout=120)


def _at_once(send: Any, it: Served) -> dict[str, httpx.Response]:
    """Both sent together; the first ceremony's draw held until the other has its answer."""
    it.hold.set()
    start = threading.Barrier(2, timeout=60)

    def one(name: str) -> httpx.Response:
        start.wait()
        answer = send(name)
        if answer.status_code == 409:
            it.released.set()
        return answer

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(DIGITS, pool.map(one, DIGITS), strict=True))


def test_the_page_tells_the_second_ceremony_at_once(
    served: tuple[str, Served], engine: sa.Engine
) -> None:
    base, it = served
    clients = _pages(base, engine)
    csrf = {name: csrf_of(http.get(f"/w/c/rounds/{KEY}").text) for name, http in clients.items()}
    answers = _at_once(lambda name: _confirm(clients[name], name, csrf[name]), it)
    [winner] = [n for n, a in answers.items() if a.status_code == 303]
    [loser] = [n for n, a in answers.items() if a.status_code == 409]
    assert answers[winner].headers["location"].endswith("?ceremony=1")
    told = _text(answers[loser].text)
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d 北京时间"
    said = rf"您提交的仪式数字未被采用：{winner} 已于 {when} 提交本轮的仪式数字，正在以其摇号"
    assert re.search(said, told), told
    assert it.drawn_by == [winner]
    assert [e.event for e in _events(engine)] == ["DrawMade"]
    for http in clients.values():
        http.close()


def test_the_api_tells_the_second_ceremony_at_once(
    served: tuple[str, Served], engine: sa.Engine
) -> None:
    base, it = served
    auth = _api(_tokens(engine))
    answers = _at_once(lambda name: _post(base, auth[name], name), it)
    [winner] = [n for n, a in answers.items() if a.status_code == 202]
    [loser] = [n for n, a in answers.items() if a.status_code == 409]
    problem = answers[loser].json()
    assert problem["type"] == "urn:shuangsui:problem:ceremony-entered", problem
    assert problem["entered_by"] == winner and "drawn_at" not in problem  # being drawn
    assert problem["entered_at"].endswith("+00:00")
    assert f"being drawn with the ceremony {winner} entered at" in problem["detail"]
    assert it.drawn_by == [winner]
    rnd = httpx.get(f"{base}/rounds/{KEY}", headers=auth[loser]).json()
    assert rnd["status"] == "drawn"
    [refused] = rnd["refused_ceremonies"]  # answered 409 at once, and listed
    assert (refused["requested_by"], refused["reason"], refused["entered_by"]) == (
        loser, "held", winner)  # fmt: skip
    assert [e.event for e in _events(engine)] == ["DrawMade"]


def test_a_ceremony_after_the_draw_is_told_who_drew_it(
    served: tuple[str, Served], engine: sa.Engine
) -> None:
    """One after the other: the API's second ceremony 409 naming the first, audited as the
    draw refuses it; the first's digits again are a retry (202); the page's second ceremony
    (its form opened before the draw) told the same, and the round's page lists both."""
    base, it = served
    made = _tokens(engine)
    auth = _api(made)
    first, winner, loser = _post(base, auth["李协调"], "李协调"), "李协调", "王协调"
    assert first.status_code == 202, first.text
    second = _post(base, auth[loser], loser)
    assert second.status_code == 409, second.text
    problem = second.json()
    assert problem["entered_by"] == winner and problem["drawn_at"].endswith("+00:00")
    said = (f"was drawn at {problem['drawn_at']} with the ceremony {winner} entered at "
            f"{problem['entered_at']}; these digits were not used")  # fmt: skip
    assert said in problem["detail"], problem
    events = _events(engine)
    assert [e.event for e in events] == ["DrawMade", "DrawRefused"]
    assert f'"requested_by":"{loser}"' in events[1].payload
    assert _post(base, auth[winner], winner).status_code == 202  # the same ceremony again
    assert it.drawn_by == [winner, winner] and len(_events(engine)) == 2

    http = httpx.Client(base_url=base, timeout=120)
    assert sign_in(http, f"/w/c/open?token={made[loser]}").status_code == 303
    page = _text(http.get(f"/w/c/rounds/{KEY}").text)
    assert re.search(r"您于 \d{4}-\d\d-\d\d \d\d:\d\d 北京时间 提交的仪式数字未被采用", page), page
    csrf = csrf_of(http.get("/w/c/adhoc").text)
    again = _confirm(http, loser, csrf)
    assert again.status_code == 409
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d 北京时间"
    said = (
        rf"您提交的仪式数字未被采用：本轮已由 {winner} 于 {when} 提交的仪式数字摇号"
        rf"（摇号时间 {when}）"
    )
    assert re.search(said, _text(again.text)), again.text
    assert [e.event for e in _events(engine)] == ["DrawMade", "DrawRefused", "DrawRefused"]
    http.close()
