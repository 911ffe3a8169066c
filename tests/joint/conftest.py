"""The joint rounds' tests share one world: a real ``shuangsui serve`` per bureau of the
directory (tests.joint.world), each on its own SQLite file or PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.joint.world import NAMES, World


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    urls = None
    if request.param == "postgres":
        make = request.getfixturevalue("new_postgres_database")
        urls = {code: make(f"joint_{code}") for code in NAMES}
    w = World(tmp_path, urls)
    try:
        for code in NAMES:
            w.start(code)
        yield w
    finally:
        w.stop()
