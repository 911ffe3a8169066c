"""The inspector pages' served round, shared by their test modules (a module that serves
something else defines its own ``live``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from api.app import create_app
from tests.findings.live import serve
from tests.workspace.helpers import delivered_round


@pytest.fixture
def live(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict]]:
    """A served app and its drawn round, notices delivered: (base URL, teams by enterprise)."""
    teams = delivered_round(engine, monkeypatch)
    with serve(create_app(engine=engine)) as base:
        yield base, teams
