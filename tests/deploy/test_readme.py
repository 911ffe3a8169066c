"""README.md's "Using it", followed literally: every command of its fenced block runs, in
order, from a fresh data directory in a folder laid out like the repository (its ``plans/``).

Substituted only what must be: ``CREDIT_CODE`` (an enterprise the round drew), ``INSPECTOR``
(its lead, who leaves the team), the ``serve`` port (and serve is started, answers, and is
stopped), and ``findings.csv``, the inspectors' results, which the test writes for that
enterprise and its team as it then stands."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import signal
import sqlite3
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.deploy.procs import REPO_ROOT, clean_env, run, start, wait_for
from tests.servers import free_port

pytestmark = pytest.mark.slow

ROUND = "rz-01-2026-12"


def readme_commands() -> list[str]:
    """The commands of the fenced block under "## Using it", comments removed."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Using it", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.splitlines():
        command = re.sub(r"\s+#.*$", "", line).strip()
        if command and not command.startswith("#"):
            commands.append(command)
    return commands


def _team(db: Path) -> tuple[str, list[str]]:
    """An enterprise the round drew, and its team (lead first)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT credit_code, inspector_id FROM assignment WHERE round_key = ? "
            "ORDER BY credit_code, position",
            (ROUND,),
        ).fetchall()
    conn.close()
    code = rows[0][0]
    return code, [inspector for c, inspector in rows if c == code]


def _findings_csv(path: Path, code: str, team: list[str], window: tuple[str, str]) -> None:
    """One check, dated today (Beijing); a day outside the round's window says why."""
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    why = "" if window[0] <= today <= window[1] else "企业申请提前检查"
    path.write_text(
        "轮次,统一社会信用代码,检查结果,检查日期,原因,签字人员\n"
        f"{ROUND},{code},未发现问题,{today},{why},{';'.join(team)}\n",
        encoding="utf-8",
    )


def _window(db: Path) -> tuple[str, str]:
    with sqlite3.connect(db) as conn:
        start_, end = conn.execute(
            "SELECT window_start, window_end FROM round WHERE round_key = ?", (ROUND,)
        ).fetchone()
    conn.close()
    return str(start_), str(end)


def _serve(command: str, cwd: Path, env: dict[str, str]) -> None:
    port = free_port()
    args = re.sub(r"--port \d+", f"--port {port}", command).split()
    serve = start("shuangsui serve", args, env=env, cwd=cwd, log=cwd / "serve.log")
    try:

        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).is_success
            except httpx.HTTPError:
                return False

        wait_for(up, 120, "serve to answer", details=serve.output, alive=serve)
        assert httpx.get(f"http://127.0.0.1:{port}/docs", timeout=30).is_success
        serve.popen.send_signal(signal.SIGTERM)
        try:
            serve.popen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("serve did not stop\n" + serve.output()) from None
        assert serve.popen.returncode == 0, serve.output()
    finally:
        serve.stop()


def test_readme_using_it_runs_command_by_command(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "plans", tmp_path / "plans")
    env = clean_env(PREFECT_HOME=str(tmp_path / "prefect-home"))
    db = tmp_path / ".shuangsui" / "shuangsui.db"
    commands = readme_commands()
    assert len(commands) > 20, commands
    code = ""
    for command in commands:
        if " serve " in f"{command} ":
            _serve(command, tmp_path, env)
            continue
        if "CREDIT_CODE" in command and not code:
            code, team = _team(db)
        if "findings import" in command:
            code, team = _team(db)  # the team as it stands (a member replaced above)
            _findings_csv(tmp_path / "findings.csv", code, team, _window(db))
        command = command.replace("CREDIT_CODE", code or "CREDIT_CODE")
        if " INSPECTOR " in command:
            command = command.replace(" INSPECTOR ", f" {team[0]} ")
        assert "CREDIT_CODE" not in command, f"{command}: no enterprise known yet"
        proc = run(["bash", "-c", command], env=env, cwd=tmp_path, timeout=600)
        out = proc.stdout
        assert proc.returncode == 0, f"$ {command}\nexit {proc.returncode}\n{out}"
        assert "Traceback" not in out and " ERROR " not in out, f"$ {command}\n{out}"
        if command.endswith("partners sync"):
            assert "no partners configured" in out, out
