"""``shuangsui serve`` leaves nothing behind: an ad hoc round posted to it with no Prefect
server configured runs in-process on a temporary Prefect server (a subprocess), its access
log goes on after the round, and stopping serve with SIGTERM stops that server too."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.deploy.procs import BIN, REPO_ROOT, clean_env, run, start, wait_for
from tests.servers import free_port

pytestmark = pytest.mark.slow


def _group_members(pgid: int) -> list[str]:
    """``pid cmdline`` of every live process in process group ``pgid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(f"{entry.name} {cmdline}")
    return found


def _shuangsui(cwd: Path, env: dict[str, str], *args: str) -> str:
    proc = run([str(BIN / "shuangsui"), *args], env=env, cwd=cwd)
    assert proc.returncode == 0, f"shuangsui {' '.join(args)}:\n{proc.stdout}"
    return proc.stdout


def test_sigterm_stops_serve_and_its_temporary_prefect_server(tmp_path: Path) -> None:
    shutil.copytree(REPO_ROOT / "plans", tmp_path / "plans")
    env = clean_env(PREFECT_HOME=str(tmp_path / "prefect-home"))
    _shuangsui(tmp_path, env, "registry", "generate", "--enterprises", "300",
               "--inspectors", "30", "--seed", "1", "--out", "reg")  # fmt: skip
    _shuangsui(tmp_path, env, "registry", "import", "all", "reg")
    token = _shuangsui(tmp_path, env, "tokens", "create-coordinator", "林科长").strip()
    port = free_port()
    serve = start("shuangsui serve", [str(BIN / "shuangsui"), "serve", "--port", str(port)],
                  env=env, cwd=tmp_path, log=tmp_path / "serve.log")  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{base}/health", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 120, "serve to answer", details=serve.output, alive=serve)
        auth = {"Authorization": f"Bearer {token}"}
        body = {"plan": "plans/2026-12/rz-01-ccc.yaml", "reason": "投诉举报"}
        answer = httpx.post(f"{base}/rounds/adhoc", json=body, headers=auth, timeout=30)
        assert answer.status_code == 202, answer.text
        assert answer.json()["mode"] == "in-process"
        key = answer.json()["round_key"]

        def committed() -> bool:
            rounds = httpx.get(f"{base}/rounds", headers=auth, timeout=30).json()
            return any(r["round_key"] == key for r in rounds)

        wait_for(committed, 180, f"round {key} committed", details=serve.output, alive=serve)
        # the round imported prefect, whose logging set-up once silenced the access log
        httpx.get(f"{base}/health?after-the-round", timeout=5)
        wait_for(lambda: "/health?after-the-round" in serve.output(), 10,
                 "an access log line after the round", details=serve.output)  # fmt: skip
        children = _group_members(serve.pgid)
        assert any("uvicorn" in c and "prefect.server" in c for c in children), children

        os.kill(serve.popen.pid, signal.SIGTERM)  # serve alone, not its group
        try:
            serve.popen.wait(timeout=150)
        except subprocess.TimeoutExpired:
            raise AssertionError("serve did not stop on SIGTERM\n" + serve.output()) from None
        wait_for(lambda: not _group_members(serve.pgid), 10, "serve's children to exit",
                 poll=0.2, details=lambda: "\n".join(_group_members(serve.pgid)))  # fmt: skip
        assert serve.popen.returncode == 0, serve.output()
    finally:
        serve.stop()
