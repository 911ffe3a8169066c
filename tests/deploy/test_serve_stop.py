"""``shuangsui serve`` leaves nothing behind: an ad hoc round posted to it with no Prefect
server configured runs in-process on a temporary Prefect server (a subprocess), its access
log goes on after the round, and stopping serve with SIGTERM stops that server too. Two
rounds posted at the same moment share that one server: started once, stopped once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.deploy.procs import BIN, REPO_ROOT, Proc, clean_env, run, start, wait_for
from tests.servers import free_port

pytestmark = pytest.mark.slow

PREFECT_SERVER_APP = "prefect.server.api.server:create_app"


def _group_members(pgid: int) -> dict[int, str]:
    """``pid: cmdline`` of every live process in process group ``pgid`` (from /proc)."""
    found = {}
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
            found[int(entry.name)] = cmdline
    return found


def _prefect_servers(pgid: int) -> set[int]:
    """Pids of the live temporary Prefect servers (uvicorn serving Prefect's API) in process
    group ``pgid``."""
    return {pid for pid, cmd in _group_members(pgid).items() if PREFECT_SERVER_APP in cmd}


def _shuangsui(cwd: Path, env: dict[str, str], *args: str) -> str:
    proc = run([str(BIN / "shuangsui"), *args], env=env, cwd=cwd)
    assert proc.returncode == 0, f"shuangsui {' '.join(args)}:\n{proc.stdout}"
    return proc.stdout


@contextmanager
def _serving(tmp_path: Path) -> Iterator[tuple[Proc, str, dict[str, str]]]:
    """A real ``shuangsui serve`` with no Prefect server configured, over a generated registry
    and the bureau's plans: the process, its address and a coordinator's headers."""
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
        yield serve, base, {"Authorization": f"Bearer {token}"}
    finally:
        serve.stop()


def _sigterm(serve: Proc) -> None:
    """SIGTERM to serve alone, not its group; it must exit 0 on its own."""
    os.kill(serve.popen.pid, signal.SIGTERM)
    try:
        serve.popen.wait(timeout=150)
    except subprocess.TimeoutExpired:
        raise AssertionError("serve did not stop on SIGTERM\n" + serve.output()) from None
    assert serve.popen.returncode == 0, serve.output()


def test_sigterm_stops_serve_and_its_temporary_prefect_server(tmp_path: Path) -> None:
    with _serving(tmp_path) as (serve, base, auth):
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
        assert _prefect_servers(serve.pgid), _group_members(serve.pgid)

        _sigterm(serve)
        wait_for(lambda: not _group_members(serve.pgid), 10, "serve's children to exit",
                 poll=0.2, details=lambda: str(_group_members(serve.pgid)))  # fmt: skip


def test_two_rounds_posted_at_once_share_one_temporary_prefect_server(tmp_path: Path) -> None:
    with _serving(tmp_path) as (serve, base, auth):
        plans = ["plans/2026-12/rz-01-ccc.yaml", "plans/2026-12/rz-03-organic.yaml"]
        answers: dict[str, httpx.Response] = {}
        together = threading.Barrier(len(plans))

        def post(plan: str) -> None:
            together.wait()
            answers[plan] = httpx.post(f"{base}/rounds/adhoc", headers=auth, timeout=60,
                                       json={"plan": plan, "reason": "投诉举报"})  # fmt: skip

        posting = [threading.Thread(target=post, args=(plan,)) for plan in plans]
        for thread in posting:
            thread.start()
        for thread in posting:
            thread.join()
        assert [answers[p].status_code for p in plans] == [202, 202], answers
        assert {answers[p].json()["mode"] for p in plans} == {"in-process"}
        keys = {answers[p].json()["round_key"] for p in plans}

        seen: set[int] = set()  # every temporary Prefect server serve ran, over the whole run

        def both_committed() -> bool:
            seen.update(_prefect_servers(serve.pgid))
            rounds = httpx.get(f"{base}/rounds", headers=auth, timeout=30).json()
            listed = [r["round_key"] for r in rounds if r["round_key"] in keys]
            assert len(listed) == len(set(listed)), rounds  # each round committed once
            return set(listed) == keys

        wait_for(both_committed, 240, f"rounds {sorted(keys)} committed",
                 details=serve.output, alive=serve)  # fmt: skip
        seen.update(_prefect_servers(serve.pgid))

        _sigterm(serve)
        assert "for 林科长 failed" not in serve.log.read_text(), serve.output()
        # a server told to stop gets 5 s before it is killed: none may be left after 10
        wait_for(lambda: not _prefect_servers(serve.pgid), 10, "the Prefect server to exit",
                 poll=0.2, details=lambda: str(_group_members(serve.pgid)))  # fmt: skip
        assert len(seen) == 1, f"temporary Prefect servers started: {sorted(seen)}"
