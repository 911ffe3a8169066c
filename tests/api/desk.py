"""A coordinator's desk on a served app: a drawn round (``tests.findings.factories``), a
coordinator's token and the app on loopback, for the tests of the routes that change a
team or its dates (``/rounds/{round}/teams/{code}/replacements`` and ``/due-dates``). The
``served`` fixture (``tests/api/conftest.py``) makes one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa

from tests.findings.factories import ROUND

ME = "王五"  # the coordinator; the pinned today (tests/conftest.py) is 2026-12-07


@dataclass
class Served:
    base: str
    teams: dict[str, list[str]]
    coordinator: str
    engine: sa.Engine

    def post(self, code: str, body: Any, token: str | None = None, **kw: Any) -> httpx.Response:
        """A replacement of ``code``'s team, as the coordinator (or ``token``) sends it."""
        return httpx.post(
            f"{self.base}{path(code)}",
            json=body,
            timeout=30,
            headers=bearer(self.coordinator if token is None else token),
            **kw,
        )

    def listed(self) -> list[dict[str, Any]]:
        r = httpx.get(f"{self.base}/rounds/{ROUND}/replacements", headers=bearer(self.coordinator))
        assert r.status_code == 200, r.text
        return list(r.json())


def path(code: str, round_key: str = ROUND) -> str:
    return f"/rounds/{round_key}/teams/{code}/replacements"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
