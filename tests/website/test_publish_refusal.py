"""A result whose row was rewritten in the database (``mark_misused`` made ``no_problem`` by an
UPDATE) is never published. Before, the site showed the rewritten result at its next publish,
until someone ran ``shuangsui findings verify``. The publish now checks each version of the
rounds it reads again against its own ``content_hash`` (``findings.integrity.check_contents``)
before it writes anything, and refuses the whole publish naming the round, the enterprise and
the version: no file written, no ``published_result`` row, no partner-log entry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from findings.models import Finding, FindingVersion, PublishedResult
from shuangsui.cli import _register_groups, app, user_message
from shuangsui.errors import Conflict, IntegrityError
from tests.findings.factories import ROUND, drawn_round, final_finding
from website.site import publish

_FV = FindingVersion.__table__  # type: ignore[attr-defined]
_F = Finding.__table__  # type: ignore[attr-defined]
_PR = PublishedResult.__table__  # type: ignore[attr-defined]


def _rewrite(engine: sa.Engine, code: str, result: str = "no_problem") -> None:
    """What someone holding the database does: the stored result changed, its hash not."""
    finding_ids = sa.select(_F.c.id).where(_F.c.round_key == ROUND, _F.c.credit_code == code)
    with engine.begin() as conn:
        conn.execute(sa.update(_FV).where(_FV.c.finding_id.in_(finding_ids)).values(result=result))


def _everything(engine: sa.Engine, out: Path) -> tuple[dict[str, bytes], int, list[Any]]:
    """The site's files (each with its bytes), the published_result rows counted, and the
    partner log's entries: what a refused publish must leave as it was."""
    files = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with engine.connect() as conn:
        published = conn.scalar(sa.select(sa.func.count()).select_from(PublishedResult))
        entries = conn.execute(sa.text("SELECT entry_id, kind FROM exchange_entry")).all()
    return files, published or 0, [tuple(e) for e in entries]


def _refusal(code: str) -> str:
    return (
        f"round {ROUND}: finding {code} version 1: stored content does not match its content_hash"
    )


def test_a_result_rewritten_after_its_publish_is_refused_and_nothing_changes(
    engine: sa.Engine, tmp_path: Path
) -> None:
    teams = drawn_round(engine)
    first, second = sorted(teams)[:2]
    final_finding(engine, first, teams[first], result="mark_misused")
    out = tmp_path / "site"
    publish(engine, out)
    page = (out / "rounds" / ROUND / "index.html").read_text("utf-8")
    assert "认证标志使用不规范" in page
    final_finding(engine, second, teams[second])  # new, never shown: not published either
    _rewrite(engine, first)
    before = _everything(engine, out)

    with pytest.raises(IntegrityError, match=_refusal(first)):
        publish(engine, out)

    assert _everything(engine, out) == before  # still mark_misused, and the second not shown


def test_a_rewritten_result_never_published_leaves_an_empty_folder_empty(
    engine: sa.Engine, tmp_path: Path
) -> None:
    teams = drawn_round(engine)
    codes = sorted(teams)
    for code in codes[:3]:
        final_finding(engine, code, teams[code], result="mark_misused")
    _rewrite(engine, codes[2], "other")
    _rewrite(engine, codes[1])
    out = tmp_path / "site"
    out.mkdir()

    with pytest.raises(IntegrityError, match=_refusal(codes[1]) + r" \(and 1 other version"):
        publish(engine, out)  # the first in order named, and how many more

    files, published, entries = _everything(engine, out)
    assert files == {} and published == 0
    assert [kind for _, kind in entries if kind in ("result", "correction")] == []


def test_the_command_says_it_in_one_line_exit_1(
    engine: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    teams = drawn_round(engine)
    code = sorted(teams)[0]
    final_finding(engine, code, teams[code], result="mark_misused")
    _rewrite(engine, code)
    monkeypatch.setenv("SHUANGSUI_DATABASE_URL", db_url)
    _register_groups()
    result = CliRunner().invoke(app, ["publish", "--out", str(tmp_path / "site")])
    assert isinstance(result.exception, IntegrityError), result.output
    assert result.exception.exit_code == 1
    said = user_message(result.exception) or ""
    assert said.startswith(_refusal(code)) and "\n" not in said


@pytest.mark.usefixtures("prefect_harness")
def test_the_publish_flow_fails_with_the_refusal_as_its_message(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """The ``publish-results`` flow run ends Failed, its state's message the refusal on one
    line (what the Prefect UI lists for the run), and nothing is published."""
    from flows.publish import publish_results

    teams = drawn_round(engine)
    code = sorted(teams)[0]
    final_finding(engine, code, teams[code], result="mark_misused")
    _rewrite(engine, code)
    out = tmp_path / "site"
    state = publish_results(out=str(out), return_state=True)
    assert state.is_failed() and state.message is not None
    assert _refusal(code) in state.message and "\n" not in state.message
    files, published, _ = _everything(engine, out)
    assert files == {} and published == 0


def _between_check_and_read(
    monkeypatch: pytest.MonkeyPatch, write: Callable[[], None], times: int = 1
) -> list[int]:
    """``write`` run just before the publish reads the results of a run of rounds (after its
    check of every version before any write), the first ``times`` reads; the reads counted."""
    from website import site

    reads = [0]
    read = site.read_results

    def read_after_a_write(*args: Any) -> Any:
        reads[0] += 1
        if reads[0] <= times:
            write()
        return read(*args)

    monkeypatch.setattr(site, "read_results", read_after_a_write)
    return reads


def test_a_result_rewritten_between_the_check_and_the_read_is_refused(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check reads every version before the first write; the results are read later. A
    row rewritten in between is seen (the findings' change log moved), read and checked again,
    and refused: the rewritten result is in no file, and nothing is recorded."""
    teams = drawn_round(engine)
    code = sorted(teams)[0]
    final_finding(engine, code, teams[code], result="mark_misused")
    out = tmp_path / "site"
    _between_check_and_read(monkeypatch, lambda: _rewrite(engine, code))

    with pytest.raises(IntegrityError, match=_refusal(code)):
        publish(engine, out)

    files, published, entries = _everything(engine, out)
    assert published == 0 and [k for _, k in entries if k in ("result", "correction")] == []
    shown = b"".join(files.values()).decode("utf-8", "replace")
    assert "未发现问题" not in shown and "no_problem" not in shown


def test_a_correction_signed_between_the_check_and_the_read_is_published_checked(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An inspector's correction recorded while the publish runs: the run is read again and
    checked again, and the site shows the version it recorded as published."""
    teams = drawn_round(engine)
    code = sorted(teams)[0]
    final_finding(engine, code, teams[code], result="mark_misused")
    out = tmp_path / "site"
    reads = _between_check_and_read(
        monkeypatch, lambda: final_finding(engine, code, teams[code], result="other", reason="更正")
    )

    publish(engine, out)

    assert reads[0] == 2  # read, seen changed, read and checked again
    with engine.connect() as conn:
        shown = conn.execute(
            sa.select(_FV.c.version, _FV.c.result).join(
                PublishedResult, PublishedResult.version_id == _FV.c.id
            )  # type: ignore[arg-type]
        ).all()
    assert [tuple(r) for r in shown] == [(2, "other")]
    page = (out / "rounds" / ROUND / "index.html").read_text("utf-8")
    assert "其它情况，更正原因：更正" in page  # the version shown, its history beside it


def test_findings_written_at_every_read_stop_the_publish_before_it_records(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    teams = drawn_round(engine)
    code = sorted(teams)[0]
    final_finding(engine, code, teams[code], result="mark_misused")

    def touch() -> None:  # a write the change log records, the content as it was
        with engine.begin() as conn:
            conn.execute(sa.update(_FV).values(result=_FV.c.result))

    _between_check_and_read(monkeypatch, touch, times=100)

    with pytest.raises(Conflict, match=f"round\\(s\\) {ROUND}: findings were written while"):
        publish(engine, tmp_path / "site")

    _, published, entries = _everything(engine, tmp_path / "site")
    assert published == 0 and [k for _, k in entries if k in ("result", "correction")] == []
