"""A drawn round served by a real ``shuangsui serve`` process on loopback, for the tests of
tokens against hostile callers: they call it over HTTP and then read everything it wrote (the
access log included) for any token."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from api import tokens
from notifications.links import assignment_token
from shuangsui.config import get_settings
from tests.deploy.procs import clean_env
from tests.findings.factories import ROUND, drawn_round
from tests.servers import free_port, serve_process


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[bytes]
    output: Path  # the server's stdout and stderr
    env: dict[str, str]  # the server's environment (for the CLI on the same bureau)
    teams: dict[str, list[str]]  # the round's inspectors by enterprise
    secret: str
    coordinator: str  # the token of the coordinator 王五

    def token(self, code: str, inspector_id: str) -> str:
        """The link token of ``inspector_id`` on enterprise ``code``."""
        return assignment_token(self.secret, ROUND, code, inspector_id)

    def log(self) -> str:
        """All the server wrote, read once it has stopped, so that its last lines are in."""
        self.proc.terminate()
        self.proc.wait(timeout=30)
        return self.output.read_text(encoding="utf-8", errors="replace")


@contextmanager
def serving(engine: sa.Engine, db_url: str, tmp_path: Path) -> Iterator[Served]:
    """A drawn round, a token of the coordinator 王五, and ``shuangsui serve`` on them (its
    environment only what ``clean_env`` keeps), stopped at the end."""
    teams = drawn_round(engine)
    settings = get_settings()
    coordinator = tokens.create_coordinator(engine, "王五", settings.bureau_code)
    port = free_port()
    env = clean_env(
        SHUANGSUI_HOME=str(tmp_path / "serve-home"),
        SHUANGSUI_DATABASE_URL=db_url,
        SHUANGSUI_ENVIRONMENT="test",
    )
    log = tmp_path / "serve.log"
    with serve_process(env, port, log) as proc:
        secret = settings.secret_key.get_secret_value()
        yield Served(f"http://127.0.0.1:{port}", proc, log, env, teams, secret, coordinator)
