"""``shuangsui serve`` checks its secret key against the recorded one once as it starts.

The command checked it before it listened (``link_key.check_serve``: a stale key said in one
line), and the app's start (``link_key.watch``) checked it again at once: two reads of the
recorded key, two transactions, and, with none recorded, two attempts at recording it, for
one start. Now the command's check is the start's, and the app's watch begins with its first
interval; an app started otherwise (tests, another server) still checks as it starts. The
command is run in this process with uvicorn replaced by the app's start and stop
(``tests.servers.serve_app``). SQLite and PostgreSQL."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from notifications import link_key
from shuangsui.cli import _register_groups, app
from shuangsui.config import get_settings
from tests.servers import free_port, serve_app


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every check of a key against the recorded one, by whom."""
    seen: list[str] = []
    check = link_key.check

    def counted(conn: sa.Connection, mine: str, *, who: str) -> None:
        seen.append(who)
        check(conn, mine, who=who)

    monkeypatch.setattr(link_key, "check", counted)
    return seen


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """uvicorn replaced by the app's start and stop; the apps it was given. SIGTERM's handler
    (the command sets its own) given back after."""
    apps: list[object] = []

    def run(app: Any, **_: Any) -> None:
        apps.append(app)
        with serve_app(app, lifespan="auto") as url:  # the app's start, then its stop
            assert httpx.get(f"{url}/health").status_code == 200

    monkeypatch.setattr("uvicorn.run", run)
    # serve stops every temporary Prefect server of its process as it ends: in this process,
    # the test session's own (prefect_test_harness), which every later flow test of this
    # worker would then find refusing connections
    monkeypatch.setattr("api.adhoc.stop_temporary_server", lambda: None)
    monkeypatch.setenv("SHUANGSUI_NOTIFY_KEY_CHECK_SECONDS", "3600")  # no turn of the watch
    before = signal.getsignal(signal.SIGTERM)
    try:
        yield apps
    finally:
        signal.signal(signal.SIGTERM, before)


def _serve() -> None:
    _register_groups()
    result = CliRunner().invoke(app, ["serve", "--port", str(free_port())])
    assert result.exit_code == 0, (result.output, result.exception)


def test_serve_checks_its_key_once_as_it_starts(
    engine: sa.Engine, checks: list[str], started: list[object]
) -> None:
    _serve()
    assert len(started) == 1
    assert checks == [link_key.SERVE]
    with engine.connect() as conn:  # none was recorded: recorded once, by serve
        rows = conn.execute(sa.text("SELECT fingerprint, recorded_by FROM link_key")).all()
    mine = link_key.fingerprint(get_settings().secret_key.get_secret_value())
    assert [tuple(r) for r in rows] == [(mine, link_key.SERVE)]


def test_an_app_started_otherwise_checks_its_key_as_it_starts(
    engine: sa.Engine, checks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.app import create_app

    monkeypatch.setenv("SHUANGSUI_NOTIFY_KEY_CHECK_SECONDS", "3600")
    with serve_app(create_app(engine=engine), lifespan="auto") as url:
        assert httpx.get(f"{url}/health").status_code == 200
    assert checks == [link_key.SERVE]
