"""A sign-off form naming version 0 (a script's form; the page names a version it shows): the
refusal was a 409 saying 您填写时还没有已提交的结果，页面已不是最新, words for a form filled in
before the first version, not for a signature. Now 422 saying there is no version 0, nothing
signed. Over a real server; both databases."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from findings import service
from tests.findings.factories import ROUND
from tests.workspace.helpers import csrf_of, errors_of, open_assignment, submitted


def test_a_signature_of_version_0_is_refused_naming_it(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, (first, second, *_) = sorted(teams.items())[0]
    submitted(engine, code, first)
    with httpx.Client(base_url=base) as http:
        path, page = open_assignment(http, base, code, second)
        r = http.post(f"{path}/sign", data={"csrf": csrf_of(page), "version": "0"})
    assert r.status_code == 422, r.text[-500:]
    said = errors_of(r.text) if 'id="errors"' in r.text else r.text
    assert "没有第 0 版" in said and "填写时" not in said, said[-500:]
    (state,) = service.history(engine, ROUND, code).states
    assert second not in state.signed_by
