"""The tests' own servers take their ports from a block per xdist worker, below the kernel's
ephemeral range (tests/servers.py): no other worker, ``bind(0)`` or outgoing connection is
handed one of them between its choice and the server's bind."""

from __future__ import annotations

import socket

import pytest

from tests import servers


def test_each_worker_has_its_own_block_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    start = servers._ephemeral_start()
    seen: dict[str, set[int]] = {}
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        seen[worker] = {servers.free_port() for _ in range(5)}
        assert len(seen[worker]) == 5
        assert all(10_000 <= port < start for port in seen[worker]), seen[worker]
    gw0, gw1 = (range(start - servers.PORT_BLOCK * n, start - servers.PORT_BLOCK * (n - 1))
                for n in (1, 2))  # fmt: skip
    assert seen["gw0"] <= set(gw0) and seen["gw1"] <= set(gw1)


def test_a_port_in_use_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    with socket.socket() as held:
        held.bind(("127.0.0.1", port := servers.free_port()))
        held.listen()
        others = {servers.free_port() for _ in range(servers.PORT_BLOCK)}  # the whole block
    assert port not in others and others  # (others: all but ports earlier tests still hold)
