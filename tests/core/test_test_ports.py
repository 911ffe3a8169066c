"""The tests' own servers take their ports from a block per test process, below the kernel's
ephemeral range (tests/servers.py): no other process, ``bind(0)`` or outgoing connection is
handed one of them between its choice and the server's bind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI

from tests import servers
from tests.servers import PORT_BLOCK, serve_app, serve_process

ROOT = Path(__file__).resolve().parents[2]


def _block_of(port: int) -> int:
    """Which block ``port`` is in, counted down from the ephemeral range."""
    return (servers._ephemeral_start() - 1 - port) // PORT_BLOCK


def test_each_worker_starts_from_its_own_block_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = servers._ephemeral_start()
    firsts = {}
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        blocks = servers._blocks()
        assert len(set(blocks)) == len(blocks) == (start - 10_000) // PORT_BLOCK
        assert all(10_000 <= first and first + PORT_BLOCK <= start for first in blocks)
        firsts[worker] = blocks[0]
    assert firsts == {"gw0": start - PORT_BLOCK, "gw1": start - 2 * PORT_BLOCK}
    ports = {servers.free_port() for _ in range(5)}
    assert len(ports) == 5 and {_block_of(port) for port in ports} == {_block_of(min(ports))}


def test_a_second_process_of_the_same_worker_takes_another_block() -> None:
    """Two runs side by side with one worker id (or none) handed out the same ports in the same
    order: a server of one started on the other's port."""
    mine = servers.free_port()
    theirs = subprocess.run(
        [sys.executable, "-c", "from tests import servers\n"
         "print(*(servers.free_port() for _ in range(5)))"],
        cwd=ROOT, env=os.environ, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    assert len(theirs) == 5
    assert _block_of(mine) not in {_block_of(int(port)) for port in theirs}, (mine, theirs)


def test_a_port_in_use_is_passed_over() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", port := servers.free_port()))
        held.listen()
        others = {servers.free_port() for _ in range(PORT_BLOCK)}  # the whole block
    assert port not in others and others  # (others: all but ports earlier tests still hold)


@pytest.mark.slow
def test_a_server_refused_its_port_is_not_taken_for_the_one_there(tmp_path: Path) -> None:
    """A server that could not bind its port fails to start, even while another server on that
    port answers what it would: the test would talk to that one."""
    port = servers.free_port()
    env = os.environ | {
        "SHUANGSUI_HOME": str(tmp_path / "home"),
        "SHUANGSUI_DATABASE_URL": f"sqlite:///{tmp_path / 'shuangsui.db'}",
        "SHUANGSUI_ENVIRONMENT": "test",
    }
    other = FastAPI()

    @other.get("/health")
    def health() -> bool:  # what a shuangsui serve answers there
        return True

    with serve_app(other, port=port):
        with pytest.raises(RuntimeError, match="did not start"):
            with serve_process(env, port, tmp_path / "serve.log"):
                pass
    said = (tmp_path / "serve.log").read_text()
    assert f"error: serve: 127.0.0.1:{port} is already in use" in said, said
