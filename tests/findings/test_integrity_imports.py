"""`shuangsui findings verify` of imported findings: a findings import lists each version it
added in its file's ``FindingsImported`` event, and each is checked as one the API recorded (a
signature added, a result rewritten with its hash computed again, a version deleted: each
named, in one line, exit 1). A database an import wrote before it listed its versions (its
event only counted them) still verifies, and the command says what of those versions it could
not check."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import Result
from typer.testing import CliRunner

from findings import importer, service
from findings.importer import import_file
from findings.integrity import verify_findings
from findings.models import Finding, FindingSignoff, FindingVersion
from findings.schemas import content_digest
from shuangsui.cli import _register_groups, app
from shuangsui.errors import IntegrityError
from tests.findings.factories import ROUND, drawn_round, finding
from tests.findings.test_integrity import _version_id

FV = FindingVersion.__table__  # type: ignore[attr-defined]
F = Finding.__table__  # type: ignore[attr-defined]
S = FindingSignoff.__table__  # type: ignore[attr-defined]
HEADER = "轮次,统一社会信用代码,检查结果,检查日期,情况说明,签字人员\n"


@dataclass(frozen=True)
class FindingsImported:
    """The event as a findings import logged it before it listed its versions."""

    file: str
    sha256: str
    versions: int
    imported_by: str


def _as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    """Imports log their event as they did before they listed their versions."""

    def event(file: str, sha256: str, versions: int, imported_by: str, *_: object) -> object:
        return FindingsImported(file, sha256, versions, imported_by)

    monkeypatch.setattr(importer, "FindingsImported", event)


def _import(engine: sa.Engine, path: Path, rows: list[tuple[str, list[str]]]) -> None:
    """Import a mark_misused finding for each (credit code, signers)."""
    lines = [
        f"{ROUND},{code},认证标志使用不规范,2026-12-10,冒用认证标志,{'；'.join(s)}"
        for code, s in rows
    ]
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    assert import_file(engine, path, imported_by="王五").new == len(rows)


def _verify(*args: str) -> Result:
    _register_groups()
    return CliRunner().invoke(app, ["findings", "verify", *args])


def _named(result: Result, code: str) -> str:
    """The one line naming the difference (after ``round ...: finding ... version 1: ``)."""
    assert result.exit_code == 1 and isinstance(result.exception, IntegrityError), result.output
    message = str(result.exception)
    assert "\n" not in message
    prefix = f"round {ROUND}: finding {code} version 1: "
    assert message.startswith(prefix), message
    return message.removeprefix(prefix)


def _sign_added(engine: sa.Engine, code: str, team: list[str]) -> str:
    """The second member's signature added by hand: the finding made final unsigned."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(S).values(version_id=_version_id(engine, code), inspector_id=team[1],
                                via="import", signed_at=sa.func.now())
        )  # fmt: skip
    return f"signature of {team[1]} is in no audit event (it was added outside shuangsui)"


def _result_rewritten(engine: sa.Engine, code: str, team: list[str]) -> str:
    """The published mark_misused made no_problem, its content hash computed again."""
    vid = _version_id(engine, code)
    with engine.begin() as conn:
        row = conn.execute(sa.select(FV).where(FV.c.id == vid)).one()._mapping
        content = {k: row[k] for k in ("description", "certificates", "measures", "evidence",
                                       "internal_note")}  # fmt: skip
        content.update(result="no_problem", check_date=row["check_date"].isoformat())
        digest = content_digest(content)
        conn.execute(
            sa.update(FV).where(FV.c.id == vid).values(result="no_problem", content_hash=digest)
        )
    return f"stored content_hash '{digest}' != '{row['content_hash']}' in the audit log's "


def _version_deleted(engine: sa.Engine, code: str, team: list[str]) -> str:
    vid = _version_id(engine, code)
    with engine.begin() as conn:
        conn.execute(sa.delete(S).where(S.c.version_id == vid))
        conn.execute(sa.delete(FV).where(FV.c.id == vid))
    return "in the audit log (FindingsImported) but not in the database (the version was deleted)"


def _sign_removed(engine: sa.Engine, code: str, team: list[str]) -> str:
    with engine.begin() as conn:
        conn.execute(
            sa.delete(S).where(S.c.version_id == _version_id(engine, code),
                               S.c.inspector_id == team[0])
        )  # fmt: skip
    return f"signature of {team[0]} is in the audit log but not in the database (deleted)"


def _reason_rewritten(engine: sa.Engine, code: str, team: list[str]) -> str:
    with engine.begin() as conn:
        conn.execute(
            sa.update(FV).where(FV.c.id == _version_id(engine, code)).values(reason="补录")
        )
    return "stored reason '补录' != '' in the audit log's FindingsImported event"


def test_an_import_verifies_as_fully_checked(engine: sa.Engine, tmp_path: Path) -> None:
    (a, ta), (b, tb), *_ = sorted(drawn_round(engine).items())
    _import(engine, tmp_path / "findings.csv", [(a, ta), (b, tb[:1])])
    ok = _verify(ROUND)
    assert ok.exit_code == 0, ok.output
    assert f"findings of {ROUND}: 2 version(s) and 3 signature(s) match their hashes" in ok.output
    assert "could not be checked" not in ok.output
    done = verify_findings(engine)
    assert (done.versions, done.signatures, done.unlisted, done.unlisted_signatures) == (2, 3, 0, 0)


@pytest.mark.parametrize(
    "tamper",
    [_sign_added, _result_rewritten, _version_deleted, _sign_removed, _reason_rewritten],
)
def test_an_imported_version_edited_is_named(
    engine: sa.Engine, tmp_path: Path, tamper: Callable[[sa.Engine, str, list[str]], str]
) -> None:
    """The lead alone signed the imported version (the second member has yet to)."""
    (a, ta), (b, tb), *_ = sorted(drawn_round(engine).items())
    _import(engine, tmp_path / "findings.csv", [(a, ta[:1]), (b, tb)])
    assert _verify().exit_code == 0
    expected = tamper(engine, a, ta)
    for args in ((), (ROUND,)):
        assert _named(_verify(*args), a).startswith(expected)


def _old_and_new(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, list[str]]:
    """An enterprise imported as before (its lead signing; the other member signed later,
    through the API), then one imported now and one submitted through the API: the code and
    team of the one imported as before."""
    (a, ta), (b, tb), (c, tc), *_ = sorted(drawn_round(engine).items())
    with monkeypatch.context() as before:
        _as_before(before)
        _import(engine, tmp_path / "before.csv", [(a, ta[:1])])
    service.sign_off(engine, round_key=ROUND, credit_code=a, version=1, inspector_id=ta[1])
    _import(engine, tmp_path / "now.csv", [(b, tb)])
    service.submit(engine, round_key=ROUND, credit_code=c, data=finding(),
                   submitted_by=f"inspector:{tc[0]}", signers=tc)  # fmt: skip
    return a, ta


def test_an_import_made_before_verifies_and_says_what_was_not_checked(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither failed nor passed as fully checked: the version imported before is checked
    against its own hash, the later signature against its FindingSigned; the lead's signature
    and its reason and submitter are in no event, and the command says so."""
    a, ta = _old_and_new(engine, tmp_path, monkeypatch)
    ok = _verify()
    assert ok.exit_code == 0, ok.output
    lines = ok.output.splitlines()
    checked = "findings: 2 version(s) and 5 signature(s) match their hashes and the audit log"
    assert lines[1] == checked
    assert lines[2] == (
        "findings: 1 version(s) imported before imports listed their versions in the audit log "
        "match their own hashes; their reasons, submitters and 1 signature(s) could not be "
        "checked against the log"
    )
    done = verify_findings(engine)
    assert (done.versions, done.signatures, done.unlisted, done.unlisted_signatures) == (3, 6, 1, 1)
    _sign_removed(engine, a, ta)  # the lead's: in no event, so no difference; one fewer unchecked
    assert verify_findings(engine).unlisted_signatures == 0
    _version_deleted(engine, a, ta)  # named by the FindingSigned of the later signature
    assert _named(_verify(), a) == (
        "in the audit log (FindingSigned) but not in the database (the version was deleted)"
    )


def test_a_version_an_import_made_before_deleted_is_counted(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No event names the version, but its import counted it: the whole log's check says a
    version was deleted (not which); a round's check cannot (the import's event names no
    round), and still says it checked that round's versions imported before against their
    hashes only."""
    (a, ta), (b, tb), *_ = sorted(drawn_round(engine).items())
    with monkeypatch.context() as before:
        _as_before(before)
        _import(engine, tmp_path / "before.csv", [(a, ta), (b, tb)])
    _version_deleted(engine, a, ta)
    bad = _verify()
    assert bad.exit_code == 1 and isinstance(bad.exception, IntegrityError)
    assert str(bad.exception) == (
        "findings: the audit log's FindingsImported events counted 2 version(s) without "
        "listing them, and 1 version(s) no event names are stored: 1 imported version(s) were "
        "deleted (those imports did not list which)"
    )
    assert verify_findings(engine, ROUND).unlisted == 1
