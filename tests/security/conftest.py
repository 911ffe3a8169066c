"""The served round that the token tests share (``tests.security.served``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.security.served import Served, serving


@pytest.fixture
def served(engine: sa.Engine, db_url: str, tmp_path: Path) -> Iterator[Served]:
    """A drawn round and ``shuangsui serve`` on it, its stdout and stderr in a log file."""
    with serving(engine, db_url, tmp_path) as served:
        yield served
