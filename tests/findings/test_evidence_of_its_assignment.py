"""A version cites only evidence uploaded for its own assignment (round, enterprise), over HTTP
on a real server: a digest learned from another assignment (the inspector's own other one, a
file once seen) is refused as a file never uploaded, naming it; the same bytes uploaded for two
assignments are one file, citable by both; a version repeating its finding's files (a sign-off
by re-submission, a correction) still passes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from notifications.links import assignment_token
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.findings.live import serve
from tests.workspace.helpers import PNG

BODY = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场检查"}
OTHER_PNG = PNG + b"another enterprise's gate"


@dataclass
class Served:
    http: httpx.Client
    teams: dict[str, list[str]]
    coordinator: str

    def token(self, code: str, member: int = 0) -> str:
        secret = get_settings().secret_key.get_secret_value()
        return assignment_token(secret, ROUND, code, self.teams[code][member])

    def upload(self, code: str, data: bytes, member: int = 0) -> str:
        r = self.http.post(
            f"/findings/{ROUND}/{code}/evidence",
            params={"filename": "gate.png"},
            content=data,
            headers={"Content-Type": "image/png", **self.auth(self.token(code, member))},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["sha256"])

    def submit(self, code: str, token: str, **body: Any) -> httpx.Response:
        return self.http.post(f"/findings/{ROUND}/{code}", json=body, headers=self.auth(token))

    @staticmethod
    def auth(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def served(engine: sa.Engine) -> Iterator[Served]:
    teams = drawn_round(engine)
    coordinator = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        yield Served(http, teams, coordinator)


def _two(served: Served) -> tuple[str, str]:
    first, second = sorted(served.teams)[:2]
    return first, second


def test_a_file_of_another_assignment_is_refused_by_the_api(served: Served) -> None:
    ours, theirs = _two(served)
    foreign = served.upload(theirs, OTHER_PNG)
    refs = [{"sha256": foreign, "filename": "gate.png"}]
    r = served.submit(ours, served.token(ours), **BODY, evidence=refs)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    said = r.json()["detail"]
    assert f"evidence: {foreign} was not uploaded for {ours} in {ROUND}" in said
    # a coordinator's correction may not carry it in either
    r = served.submit(ours, served.coordinator, **BODY, evidence=refs, reason="补充照片")
    assert r.status_code == 422 and foreign in r.json()["detail"]
    # a digest nobody uploaded is said the same way: the answer tells nothing of what is stored
    unknown = "ab" * 32
    r = served.submit(ours, served.token(ours), **BODY, evidence=[{"sha256": unknown}])
    assert r.status_code == 422
    assert f"evidence: {unknown} was not uploaded for {ours} in {ROUND}" in r.json()["detail"]
    # nothing was recorded
    hist = served.http.get(f"/findings/{ROUND}/{ours}", headers=served.auth(served.token(ours)))
    assert hist.json()["versions"] == []


def test_the_same_bytes_uploaded_for_two_assignments_are_one_file_citable_by_both(
    served: Served, engine: sa.Engine
) -> None:
    from findings.models import Evidence, EvidenceLink

    ours, theirs = _two(served)
    digest = served.upload(theirs, OTHER_PNG)
    assert served.upload(ours, OTHER_PNG) == digest == hashlib.sha256(OTHER_PNG).hexdigest()
    assert served.upload(ours, OTHER_PNG, member=1) == digest  # again: still one link
    with Session(engine) as s:
        assert len(s.exec(select(Evidence)).all()) == 1
        links = s.exec(select(EvidenceLink.credit_code, EvidenceLink.sha256)).all()
    assert sorted(links) == sorted([(ours, digest), (theirs, digest)])
    for code in (ours, theirs):
        r = served.submit(code, served.token(code), **BODY, evidence=[{"sha256": digest}])
        assert r.status_code == 201, r.text


def test_a_version_repeating_the_findings_files_still_passes(served: Served) -> None:
    ours, _ = _two(served)
    digest = served.upload(ours, PNG)
    refs = [{"sha256": digest, "filename": "gate.png"}]
    r = served.submit(ours, served.token(ours), **BODY, evidence=refs)
    assert r.status_code == 201, r.text
    # the teammate sends the same version: their sign-off
    r = served.submit(ours, served.token(ours, 1), **BODY, evidence=refs)
    assert r.status_code == 201 and r.json()["final"] is True, r.text
    # a coordinator's correction keeps the file
    r = served.submit(ours, served.coordinator, **BODY, evidence=refs, reason="补充说明")
    assert r.status_code == 201 and r.json()["version"] == 2, r.text
