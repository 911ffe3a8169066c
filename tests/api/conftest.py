from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from shuangsui.config import get_settings
from tests.api.desk import ME, Served
from tests.findings.factories import drawn_round
from tests.findings.live import serve


@pytest.fixture
def served(engine: sa.Engine) -> Iterator[Served]:
    """The app served on loopback over a drawn round, and its coordinator's token."""
    drawn = drawn_round(engine)
    ssc = tokens.create_coordinator(engine, ME, get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base:
        yield Served(base, drawn, ssc, engine)
