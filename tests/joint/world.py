"""Three bureaus as separate `shuangsui serve` processes, each with its own database, keys and
partner directory (like tests/exchange/test_e2e.py, without the fault proxy), and joint plans."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

from exchange.directory import load_directory
from joint.service import Bureau as Me
from tests.exchange.bureaus import Servers, make_bureau, write_directory
from tests.rounds.factories import plan_yaml, seed_registry
from tests.servers import free_port

NAMES = {"350000": "福建", "310000": "上海", "330000": "浙江"}


def joint_yaml(
    joint: str,
    *,
    commit_in: int = 600,
    reveal_in: int = 1200,
    more: Mapping[str, int] | None = None,
) -> str:
    """A joint plan of the three bureaus, one inspector each per team (``more``: a bureau's
    count, where another)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    at = lambda s: (now + dt.timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    count = {c: (more or {}).get(c, 1) for c in NAMES}
    size = sum(count.values())
    rnd = textwrap.indent(plan_yaml(plan_id=joint, division="350000", size=size), "  ")
    return (f"joint: {joint}\nlead: '350000'\nparticipants:\n"
            + "".join(f"  - {{bureau: '{c}', inspectors: {n}}}\n" for c, n in count.items())
            + f"commit_deadline: {at(commit_in)}\nreveal_deadline: {at(reveal_in)}\n"
            + f"round:\n{rnd}")  # fmt: skip


class World:
    def __init__(
        self,
        tmp: Path,
        urls: dict[str, str] | None = None,
        enterprises: Mapping[str, int] | None = None,
    ):
        """``enterprises``: a bureau's registry size, where not 60."""
        self.tmp, self.servers = tmp, Servers(tmp)
        self.b = {c: make_bureau(tmp, c, (urls or {}).get(c)) for c in NAMES}
        self.ports = {c: free_port() for c in NAMES}
        for c, b in self.b.items():
            b.base_url = f"http://127.0.0.1:{self.ports[c]}"
            seed_registry(b.engine, seed=int(c[:2]), province=c[:2],
                          enterprises=(enterprises or {}).get(c, 60))  # fmt: skip
        for b in self.b.values():
            write_directory(b.home / "partners.toml", [o for o in self.b.values() if o is not b])

    def env(self, code: str) -> dict[str, str]:
        b = self.b[code]
        return os.environ | {
            "SHUANGSUI_HOME": str(b.home), "SHUANGSUI_BUREAU_CODE": code,
            "SHUANGSUI_EXCHANGE_PUBLIC_URL": b.base_url,
            "SHUANGSUI_DATABASE_URL": str(b.settings.database_url),
            "SHUANGSUI_ENVIRONMENT": "test",
        }  # fmt: skip

    def run(self, code: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "shuangsui", *args], env=self.env(code),
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        if ok:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        return proc

    def me(self, code: str) -> Me:
        """The bureau as its own CLI sees itself (for calls made from the test process)."""
        b = self.b[code]
        return Me(code, b.key, load_directory(b.home / "partners.toml"))

    def start(self, code: str) -> None:
        self.servers.start(code, self.env(code), self.ports[code])

    def stop(self) -> None:
        self.servers.stop_all()
        for b in self.b.values():
            b.engine.dispose()
