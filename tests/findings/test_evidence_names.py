"""An evidence file named ``..`` (or ``.``, or dots and spaces alone) was stored and served
back as ``filename=".."``: a name of a folder, not of a file. Refused wherever a file comes
in (the API, the inspector's page, the library itself), as other names that are no file's
are, and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api.app import create_app
from findings import evidence
from findings.models import Evidence
from findings.settings import FindingsSettings
from notifications.links import assignment_token
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.findings.live import serve
from tests.findings.media_samples import PDF

NAMES = ["..", ".", "...", " . ", ". ."]


@pytest.fixture
def upload(engine: sa.Engine) -> tuple[str, str]:
    """The evidence route of the round's first enterprise, and its lead's token."""
    code, team = sorted(drawn_round(engine).items())[0]
    token = assignment_token(get_settings().secret_key.get_secret_value(), ROUND, code, team[0])
    return f"/findings/{ROUND}/{code}/evidence", token


def _rows(engine: sa.Engine) -> list[str]:
    with Session(engine) as db:
        return [r.sha256 for r in db.exec(select(Evidence))]


@pytest.mark.parametrize("name", NAMES)
def test_the_api_refuses_a_name_of_dots_and_spaces(
    engine: sa.Engine, upload: tuple[str, str], name: str
) -> None:
    path, token = upload
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        r = http.post(
            path,
            params={"filename": name},
            content=PDF,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
        )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    [error] = r.json()["errors"]
    assert error["field"] == "query.filename" and "is not a file name" in error["reason"], error
    assert _rows(engine) == []


@pytest.mark.parametrize("name", NAMES)
def test_the_writer_refuses_a_name_of_dots_and_spaces(tmp_path: Path, name: str) -> None:
    with pytest.raises(evidence.EvidenceNameRefused, match="is not a file name"):
        evidence.EvidenceWriter(tmp_path, "application/pdf", FindingsSettings(), filename=name)
    assert not list(evidence.evidence_dir(tmp_path).glob("*"))


@pytest.mark.parametrize("name", ["", "..pdf", "a..b.pdf", ".hidden.pdf", "报告 .pdf"])
def test_a_name_with_more_than_dots_and_spaces_is_kept(tmp_path: Path, name: str) -> None:
    with evidence.EvidenceWriter(
        tmp_path, "application/pdf", FindingsSettings(), filename=name
    ) as writer:
        writer.write(PDF)
        writer.finish()
    assert writer.filename == name
