"""Real processes for the end-to-end tests: started in their own process group with their
output in a log file, waited on with deadlines, and always stopped with their children."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
T = TypeVar("T")


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any PREFECT_* or SHUANGSUI_* variable, plus
    ``extra``; the venv's bin first on PATH so ``prefect`` and ``python`` are this venv's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "SHUANGSUI_", "PYTEST_", "COV_"))
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "250"  # rich output on one line, so flow run ids can be parsed
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def tail(path: Path, chars: int = 8000) -> str:
    """The log's start and end (where the first error and the last words are)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    if len(text) <= chars:
        return text
    return text[: chars // 4] + "\n[…]\n" + text[-(chars - chars // 4) :]


@dataclass
class Proc:
    """A subprocess leading its own process group, its stdout and stderr in ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pgid(self) -> int:
        return self.popen.pid  # start_new_session: the leader's pid is the group id

    def output(self) -> str:
        return f"--- {self.name} (pid {self.popen.pid}, log {self.log}) ---\n{tail(self.log)}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def group_alive(self) -> bool:
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # pragma: no cover - pgid reused by someone else's process
            return False
        return True

    def kill_group(self, sig: signal.Signals = signal.SIGKILL) -> None:
        try:
            os.killpg(self.pgid, sig)
        except ProcessLookupError:
            pass

    def stop(self, grace: float = 20.0) -> None:
        """SIGINT (what Prefect's server and worker shut down cleanly on), then SIGTERM, then
        SIGKILL of the whole group, so no child (a flow run, a uvicorn) outlives the test."""
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5.0)):
            if not self.alive():
                break
            self.kill_group(sig)
            try:
                self.popen.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
        self.kill_group(signal.SIGKILL)  # the leader may be gone while children linger
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - unkillable
            pass
        wait_for(lambda: not self.group_alive(), 15, f"process group of {self.name} to exit",
                 poll=0.1, details=self.output)  # fmt: skip


def start(name: str, args: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path) -> Proc:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        popen = subprocess.Popen(
            list(args),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Proc(name, popen, log)


def run(
    args: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    """Run to completion in its own process group; a timeout kills the whole group."""
    popen = subprocess.Popen(
        list(args), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = popen.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = popen.communicate()
        raise AssertionError(f"{' '.join(args)} took over {timeout:.0f} s:\n{out}") from None
    finally:
        try:
            os.killpg(popen.pid, signal.SIGKILL)  # children it left behind, if any
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(list(args), popen.returncode, out, None)


def wait_for(
    probe: Callable[[], T | None],
    timeout: float,
    what: str,
    *,
    poll: float = 0.5,
    details: Callable[[], str] = lambda: "",
    alive: Proc | None = None,
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds, or as
    soon as ``alive`` (a process the wait depends on) has exited, with ``details()``."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if alive is not None and not alive.alive():
            raise AssertionError(
                f"{alive.name} exited ({alive.popen.returncode}) while waiting for {what}\n"
                + details()
            )
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what}\n" + details()
            )
        time.sleep(poll)


def import_flows(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``import flows.rounds`` in a fresh interpreter, as a Prefect worker loads the flows
    before any flow of a run: the environment clean but for ``env``, a Prefect home and a
    data directory (``home``) of its own under ``tmp_path``."""
    return subprocess.run(
        [sys.executable, "-c", "import flows.rounds"],
        cwd=REPO_ROOT,
        env=clean_env(
            PREFECT_HOME=str(tmp_path / "prefect-home"),
            SHUANGSUI_HOME=str(tmp_path / "home"),
            **env,
        ),  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
    )


def shuangsui(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``shuangsui ARGS`` from ``cwd`` as a user types it: the environment clean but for
    ``env`` (a Prefect home of its own in ``cwd``), its output and its errors apart."""
    return subprocess.run(
        [str(BIN / "shuangsui"), *args],
        cwd=cwd,
        env=clean_env(PREFECT_HOME=str(cwd / "prefect-home"), **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
