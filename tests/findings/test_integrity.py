"""`shuangsui findings verify`: a finding edited in the database, whoever edits it, is caught
and named (round, credit code, version, what), against the version's own hash and the audit
log; findings as shuangsui recorded them (submitted, signed, corrected, imported) verify."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from findings import service
from findings.importer import import_file
from findings.integrity import verify_findings
from findings.models import Finding, FindingSignoff, FindingVersion
from findings.schemas import content_digest
from shuangsui.cli import _register_groups, app
from shuangsui.errors import IntegrityError
from tests.findings.factories import ROUND, drawn_round, final_finding, finding

FV = FindingVersion.__table__  # type: ignore[attr-defined]
F = Finding.__table__  # type: ignore[attr-defined]
S = FindingSignoff.__table__  # type: ignore[attr-defined]


def _recorded(engine: sa.Engine) -> tuple[str, list[str]]:
    """A round with a final finding corrected once (version 2 final too) and another final
    finding; the corrected one's credit code and team."""
    teams = sorted(drawn_round(engine).items())
    (code, team), (other, other_team) = teams[0], teams[1]
    final_finding(engine, code, team, result="mark_misused", description="冒用标志")
    v2 = service.submit(
        engine,
        round_key=ROUND,
        credit_code=code,
        data=finding("mark_misused", description="冒用认证标志", reason="描述不全"),
        submitted_by="coordinator:王五",
        signers=[team[0]],
    )
    for member in team[1:]:
        service.sign_off(
            engine, round_key=ROUND, credit_code=code, version=v2.version, inspector_id=member
        )
    final_finding(engine, other, other_team)
    return code, team


def _version_id(engine: sa.Engine, code: str, version: int = 1) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(FV.c.id)
            .join(F, F.c.id == FV.c.finding_id)
            .where(F.c.credit_code == code, FV.c.version == version)
        ).scalar_one()


def _edit(engine: sa.Engine, code: str, version: int, **values: object) -> None:
    vid = _version_id(engine, code, version)
    with engine.begin() as conn:
        conn.execute(sa.update(FV).where(FV.c.id == vid).values(**values))


def test_findings_as_recorded_verify(engine: sa.Engine) -> None:
    _recorded(engine)
    done = verify_findings(engine)
    assert (done.versions, done.unlisted) == (3, 0)
    assert done.signatures == 6 and done.head.startswith(f"{done.events}:")
    assert verify_findings(engine, ROUND).versions == 3


def test_a_result_rewritten_in_place_is_named(engine: sa.Engine) -> None:
    """The hostile pass's edit: a published mark_misused made no_problem by an UPDATE passed
    every check the auditor had."""
    code, _ = _recorded(engine)
    _edit(engine, code, 2, result="no_problem")
    with pytest.raises(IntegrityError) as info:
        verify_findings(engine)
    message = str(info.value)
    assert message.startswith(f"round {ROUND}: finding {code} version 2: stored content does ")
    assert "content_hash" in message and "\n" not in message


def test_a_rewrite_with_its_hash_computed_again_is_named_by_the_log(engine: sa.Engine) -> None:
    code, _ = _recorded(engine)
    with engine.connect() as conn:
        row = (
            conn.execute(sa.select(FV).where(FV.c.id == _version_id(engine, code, 2)))
            .one()
            ._mapping
        )
    content = {k: row[k] for k in ("result", "description", "certificates", "measures",
                                   "evidence", "internal_note")}  # fmt: skip
    content.update(result="no_problem", check_date=row["check_date"].isoformat())
    _edit(engine, code, 2, result="no_problem", content_hash=content_digest(content))
    with pytest.raises(IntegrityError, match=rf"finding {code} version 2: stored content_hash "
                       ".* in the audit log's FindingRecorded event"):  # fmt: skip
        verify_findings(engine, ROUND)


def test_a_reason_rewritten_is_named(engine: sa.Engine) -> None:
    code, _ = _recorded(engine)
    _edit(engine, code, 2, reason="依法更正")
    with pytest.raises(IntegrityError, match=r"version 2: stored reason '依法更正' != '描述不全'"):
        verify_findings(engine)


def test_a_signature_added_or_removed_is_named(engine: sa.Engine) -> None:
    code, team = _recorded(engine)
    vid = _version_id(engine, code, 2)
    with engine.begin() as conn:
        conn.execute(sa.delete(S).where(S.c.version_id == vid, S.c.inspector_id == team[1]))
    with pytest.raises(IntegrityError, match=rf"version 2: signature of {team[1]} is in the "
                       "audit log but not in the database"):  # fmt: skip
        verify_findings(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(S).values(
                version_id=vid, inspector_id="I-9999", via="api", signed_at=sa.func.now()
            )
        )
    with pytest.raises(IntegrityError, match="version 2: signature of I-9999 is in no audit"):
        verify_findings(engine)


def test_a_version_deleted_is_named(engine: sa.Engine) -> None:
    """A correction deleted: the version before it would be the public one again."""
    code, _ = _recorded(engine)
    vid = _version_id(engine, code, 2)
    with engine.begin() as conn:
        conn.execute(sa.delete(S).where(S.c.version_id == vid))
        conn.execute(sa.delete(FV).where(FV.c.id == vid))
    with pytest.raises(IntegrityError, match=rf"finding {code} version 2: in the audit log "
                       r"\(FindingRecorded\) but not in the database"):  # fmt: skip
        verify_findings(engine)


def test_a_version_added_outside_shuangsui_is_caught(engine: sa.Engine) -> None:
    """A whole new version with a hash that matches its content and every signature: no
    FindingRecorded names it and no import counted it."""
    code, team = _recorded(engine)
    data = finding("no_problem", reason="更正")
    content = {**data.content(), "check_date": data.check_date}
    with engine.begin() as conn:
        fid = conn.execute(sa.select(F.c.id).where(F.c.credit_code == code)).scalar_one()
        vid = conn.execute(
            sa.insert(FV)
            .values(
                finding_id=fid,
                version=3,
                reason=data.reason,
                submitted_by="coordinator:王五",
                content_hash=data.content_hash(),
                created_at=sa.func.now(),
                **content,
            )
            .returning(FV.c.id)  # fmt: skip
        ).scalar_one()
        for member in team:
            conn.execute(sa.insert(S).values(version_id=vid, inspector_id=member, via="import",
                                             signed_at=sa.func.now()))  # fmt: skip
    with pytest.raises(IntegrityError, match=rf"1 version\(s\) no FindingRecorded or "
                       rf"FindingsImported event names, .* counted 0 without listing them.* "
                       rf"finding {code} version 3"):  # fmt: skip
        verify_findings(engine)


def test_imported_versions_verify_against_their_hash(engine: sa.Engine, tmp_path: Path) -> None:
    (code, team), *_ = sorted(drawn_round(engine).items())
    path = tmp_path / "findings.csv"
    path.write_text(
        "轮次,统一社会信用代码,检查结果,检查日期,签字人员\n"
        f"{ROUND},{code},未发现问题,2026-12-10,{'；'.join(team)}\n",
        encoding="utf-8",
    )
    assert import_file(engine, path, imported_by="王五").new == 1
    done = verify_findings(engine)
    assert (done.versions, done.unlisted, done.signatures) == (1, 0, len(team))
    _edit(engine, code, 1, description="改过")
    with pytest.raises(IntegrityError, match=f"finding {code} version 1: stored content does"):
        verify_findings(engine)


def test_the_command_says_ok_or_names_the_difference(engine: sa.Engine) -> None:
    _register_groups()
    cli = CliRunner()
    code, _ = _recorded(engine)
    ok = cli.invoke(app, ["findings", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "3 version(s) and 6 signature(s) match their hashes and the audit log" in ok.output
    _edit(engine, code, 1, result="no_problem")
    bad = cli.invoke(app, ["findings", "verify", ROUND])
    assert bad.exit_code == 1 and isinstance(bad.exception, IntegrityError)
    assert str(bad.exception).startswith(f"round {ROUND}: finding {code} version 1: ")
    unknown = cli.invoke(app, ["findings", "verify", "rz-99-2026-12"])
    assert unknown.exit_code == 1 and "no round rz-99-2026-12" in str(unknown.exception)
