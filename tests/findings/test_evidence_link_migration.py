"""Migration 0021 links what was recorded before it: a database at 0020 whose versions cite
files, and whose inspector pages attached others, still validates those versions and serves
those files once upgraded; a file of another assignment stays uncitable there."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from findings import evidence, service
from findings.models import EvidenceLink
from rounds import audit
from shuangsui import db
from shuangsui.config import get_settings
from shuangsui.errors import UserError
from tests.findings.factories import ROUND, drawn_round, finding
from tests.findings.live import serve
from tests.workspace.helpers import PNG, coordinator_client
from workspace.events import EvidenceAttached


def _stored(engine: sa.Engine, data: bytes, code: str) -> str:
    row = evidence.store_bytes(engine, Path(get_settings().home), data, media_type="image/png",
                               filename="gate.png", uploaded_by="inspector:x",
                               round_key=ROUND, credit_code=code)  # fmt: skip
    return row.sha256


def _links(engine: sa.Engine) -> set[tuple[str, str, str, str]]:
    with Session(engine) as s:
        rows = s.exec(select(EvidenceLink)).all()
    return {(r.round_key, r.credit_code, r.sha256, r.uploaded_by) for r in rows}


def test_0021_links_the_files_versions_cite_and_pages_attached(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        teams = drawn_round(engine)
        ours, theirs = sorted(teams)[:2]
        team = teams[ours]
        cited = _stored(engine, PNG, ours)
        service.submit(engine, round_key=ROUND, credit_code=ours,
                       data=finding(evidence=[{"sha256": cited, "filename": "gate.png"}]),
                       submitted_by=f"inspector:{team[0]}", signers=[team[0]])  # fmt: skip
        drafted = _stored(engine, PNG + b"draft", ours)
        audit.append(engine, ROUND, EvidenceAttached(ours, team[1], drafted, len(PNG) + 5))
        uncited = _stored(engine, PNG + b"api, never cited", ours)
        foreign = _stored(engine, PNG + b"theirs", theirs)
        assert {link[2] for link in _links(engine)} == {cited, drafted, uncited, foreign}
        engine.dispose()

        db.downgrade(db_url, "0020")
        assert "evidence_link" not in sa.inspect(engine).get_table_names()
        engine.dispose()
        db.migrate(db_url)

        assert _links(engine) == {
            (ROUND, ours, cited, f"inspector:{team[0]}"),  # the citing version's submitter
            (ROUND, ours, drafted, f"inspector:{team[1]}"),  # the page's EvidenceAttached
        }
        # the version still validates: the teammate's re-submission is their sign-off
        refs = [{"sha256": cited, "filename": "gate.png"}]
        again = service.submit(engine, round_key=ROUND, credit_code=ours,
                               data=finding(evidence=refs), submitted_by=f"inspector:{team[1]}",
                               signers=[team[1]])  # fmt: skip
        assert again.version == 1
        assert service.history(engine, ROUND, ours).states[0].final
        both = [*refs, {"sha256": drafted, "filename": "draft.png"}]
        corrected = service.submit(engine, round_key=ROUND, credit_code=ours,
                                   data=finding(evidence=both, reason="补充照片"),
                                   submitted_by="coordinator:李协调")  # fmt: skip
        assert corrected.version == 2
        for refused in (foreign, uncited):  # another's; one uploaded through the API alone
            with pytest.raises(UserError, match=f"{refused} was not uploaded for {ours}"):
                service.submit(engine, round_key=ROUND, credit_code=ours,
                               data=finding(evidence=[{"sha256": refused}], reason="再补充"),
                               submitted_by="coordinator:李协调")  # fmt: skip

        # and its file is served on the enterprise's page
        ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
        with serve(create_app(engine=engine)) as base, coordinator_client(base, ssc) as http:
            got = http.get(f"/w/c/rounds/{ROUND}/e/{ours}/evidence/{cited}")
            theirs_got = http.get(f"/w/c/rounds/{ROUND}/e/{ours}/evidence/{foreign}")
        assert got.status_code == 200 and got.content == PNG
        assert theirs_got.status_code == 404
    finally:
        engine.dispose()


def test_0021_goes_down_and_up_on_an_empty_database(db_url: str) -> None:
    db.downgrade(db_url, "0020")
    db.migrate(db_url)
    engine = db.make_engine(db_url)
    try:
        assert _links(engine) == set()
    finally:
        engine.dispose()
