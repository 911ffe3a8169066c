"""A file is served under the name its own assignment gave it: the same bytes uploaded for two
assignments are one stored file, whose row keeps the first upload's name, and an enterprise's
pages (the coordinator's and the inspector's) sent it under that name, another team's (甲公司-
违法证据.pdf on the page of 乙's check). Over HTTP on a real server, both databases."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx

from tests.findings.factories import ROUND
from tests.workspace.helpers import bearer, coordinator_client, open_assignment
from workspace.coordinator import enterprise_path

PDF = b"%PDF-1.4\n% one report, sent by two teams\n%%EOF\n"
THEIRS, OURS = "甲公司-违法证据.pdf", "现场记录.pdf"
BODY = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场检查"}


def _upload(http: httpx.Client, code: str, inspector: str, name: str) -> str:
    headers = {"Content-Type": "application/pdf", **bearer(code, inspector)}
    r = http.post(
        f"/findings/{ROUND}/{code}/evidence",
        params={"filename": name},
        content=PDF,
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["sha256"])


def _named(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    said = response.headers["content-disposition"]
    found = re.search(r"filename\*=UTF-8''(\S+)", said)
    assert found, said
    return found.group(1)


def test_the_same_bytes_are_served_under_each_assignments_own_name(
    coordinator_live: tuple[str, dict, str],
) -> None:
    base, teams, ssc = coordinator_live
    ours, theirs = sorted(teams)[:2]
    me = teams[ours][0]
    with httpx.Client(base_url=base) as http:
        digest = _upload(http, theirs, teams[theirs][0], THEIRS)  # first: the row's name
        assert _upload(http, ours, me, OURS) == digest
        for code, name in ((theirs, THEIRS), (ours, OURS)):
            refs = [{"sha256": digest, "filename": name}]
            r = http.post(f"/findings/{ROUND}/{code}", json={**BODY, "evidence": refs},
                          headers=bearer(code, teams[code][0]))  # fmt: skip
            assert r.status_code == 201, r.text
        path, _ = open_assignment(http, base, ours, me)
        on_inspectors = http.get(f"{path}/evidence/{digest}")
    with coordinator_client(base, ssc) as http:
        on_ours = http.get(f"{enterprise_path(ROUND, ours)}/evidence/{digest}")
        on_theirs = http.get(f"{enterprise_path(ROUND, theirs)}/evidence/{digest}")
    assert on_ours.content == PDF
    assert _named(on_ours) == quote(OURS)
    assert _named(on_inspectors) == quote(OURS)
    assert _named(on_theirs) == quote(THEIRS)  # the first upload's own page: its name still
    assert "%E7%94%B2" not in on_ours.headers["content-disposition"]  # 甲, in no form
    assert "%E7%94%B2" not in on_inspectors.headers["content-disposition"]
