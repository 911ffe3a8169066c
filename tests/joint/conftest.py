"""The joint rounds' tests share one world: a real ``shuangsui serve`` per bureau of the
directory (tests.joint.world), each on its own SQLite file or PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tests.joint.world import NAMES, World

LARGE = 8_000  # a lead's enterprises whose commitment (frames included) is past 1 MiB


def _world(
    request: pytest.FixtureRequest, tmp_path: Path, enterprises: Mapping[str, int] | None = None
) -> Iterator[World]:
    urls = None
    if request.param == "postgres":
        make = request.getfixturevalue("new_postgres_database")
        urls = {code: make(f"joint_{code}") for code in NAMES}
    w = World(tmp_path, urls, enterprises)
    try:
        for code in NAMES:
            w.start(code)
        yield w
    finally:
        w.stop()


DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from _world(request, tmp_path)


@pytest.fixture(params=DATABASES)
def large_world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """The world, the lead (350000) holding LARGE enterprises: its commitment cannot be POSTed."""
    yield from _world(request, tmp_path, {"350000": LARGE})
