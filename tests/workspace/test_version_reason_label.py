"""A first version's reason says why the check took place outside the round's window (the
inspector's form asks for it as 说明); a later version's reason is why it corrects the one
before. The version's page called both 更正理由, so a first submission seemed a correction."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
import sqlalchemy as sa

from findings.service import submit
from tests.findings.factories import ROUND, finding
from tests.workspace.helpers import outbox_link, sign_in


def _shown(html: str) -> list[tuple[str, str]]:
    return re.findall(r"<dt>(说明|更正理由)</dt><dd>([^<]*)</dd>", html)


def test_a_first_versions_reason_is_a_note_and_a_laters_a_correction(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    by = {"round_key": ROUND, "credit_code": code, "submitted_by": f"inspector:{team[0]}",
          "signers": [team[0]]}  # fmt: skip
    submit(engine, data=finding(reason="企业次日停产，提前一日检查"), **by)
    with httpx.Client(base_url=base) as http:
        first = sign_in(http, outbox_link(code, team[0], base))
        assert first.status_code == 303, first.text
        path = urlsplit(first.headers["location"]).path
        page = http.get(path).text
        assert set(_shown(page)) == {("说明", "企业次日停产，提前一日检查")}
        submit(engine, data=finding(reason="检查日期笔误", description="更正"), **by)
        page = http.get(path).text
    assert set(_shown(page)) == {
        ("说明", "企业次日停产，提前一日检查"),
        ("更正理由", "检查日期笔误"),
    }
