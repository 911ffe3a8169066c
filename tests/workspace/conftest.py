"""The served round, shared by the test modules: ``live`` for the inspector pages,
``coordinator_live`` for the coordinator's (a module that serves something else defines its own
``live``), ``on_a_phone`` for a member's page in Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page

from api import tokens
from api.app import create_app
from shuangsui.config import get_settings
from tests.findings.live import serve
from tests.workspace.helpers import COORDINATOR, delivered_round, on_a_phone_page


@pytest.fixture
def live(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict]]:
    """A served app and its drawn round, notices delivered: (base URL, teams by enterprise)."""
    teams = delivered_round(engine, monkeypatch)
    with serve(create_app(engine=engine)) as base:
        yield base, teams


@pytest.fixture
def coordinator_live(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, dict, str]]:
    """A served app, its drawn round (notices delivered) and a token of the coordinator 李协调
    (``COORDINATOR``): (base URL, teams by enterprise, token)."""
    teams = delivered_round(engine, monkeypatch)
    ssc = tokens.create_coordinator(engine, COORDINATOR, get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base:
        yield base, teams, ssc


@pytest.fixture
def on_a_phone(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Page, str]]:
    """A member's assignment page open in Chromium at 390 px, JavaScript off; the enterprise."""
    with on_a_phone_page(engine, monkeypatch) as (page, code, _team):
        yield page, code
