"""The inspector's findings form when two team members submit at once, over real HTTP on
SQLite and PostgreSQL: one version is recorded, the other member gets a 409 page that names
the version that came first and keeps what they typed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from findings import service
from tests.findings.factories import ROUND
from tests.findings.live import serve
from tests.workspace.helpers import csrf_of, delivered_round, outbox_link, sign_in


@pytest.fixture
def live(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict]]:
    teams = delivered_round(engine, monkeypatch)
    with serve(create_app(engine=engine)) as base:
        yield base, teams


def _form(http: httpx.Client, base: str, code: str, inspector: str) -> tuple[str, dict]:
    """The assignment page's path and a filled form to submit (with its CSRF token and the
    ``base_version`` the page was rendered with)."""
    opened = sign_in(http, outbox_link(code, inspector, base))
    page = http.get(opened.headers["location"])
    assert 'name="base_version" value="0"' in page.text
    form = {"csrf": csrf_of(page.text), "result": "no_problem", "check_date": "2026-12-10",
            "base_version": "0", "action": "submit",
            "description": f"{inspector} 填写的检查情况"}  # fmt: skip
    return urlsplit(str(page.url)).path, form


def test_two_members_submitting_the_first_version_at_once(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    clients = [httpx.Client(base_url=base, timeout=60) for _ in team[:2]]
    forms = [_form(http, base, code, member) for http, member in zip(clients, team, strict=False)]
    answers: list[httpx.Response] = []
    gate = threading.Barrier(2)

    def submit(http: httpx.Client, path: str, form: dict) -> None:
        gate.wait()
        answers.append(http.post(path, data=form))

    threads = [
        threading.Thread(target=submit, args=(h, *f)) for h, f in zip(clients, forms, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for http in clients:
        http.close()
    assert sorted(r.status_code for r in answers) == [303, 409], [r.text[:300] for r in answers]
    lost = next(r for r in answers if r.status_code == 409)
    assert "您填写时还没有已提交的结果，页面已不是最新：同组已提交第 1 版" in lost.text
    history = service.history(engine, ROUND, code)
    assert len(history.versions) == 1
    winner = history.versions[0].description
    assert winner in {f["description"] for _, f in forms}
    loser = ({f["description"] for _, f in forms} - {winner}).pop()
    assert loser in lost.text  # what they typed is still on their page
