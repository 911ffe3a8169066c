"""A result whose row was rewritten in the database (``mark_misused`` made ``no_problem`` by an
UPDATE) is never published. Before, the site showed the rewritten result at its next publish,
until someone ran ``shuangsui findings verify``. The publish now checks each version of the
rounds it reads again against its own ``content_hash`` (``findings.integrity.check_contents``)
before it writes anything, and refuses the whole publish naming the round, the enterprise and
the version: no file written, no ``published_result`` row, no partner-log entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from findings.models import Finding, FindingVersion, PublishedResult
from shuangsui.cli import _register_groups, app, user_message
from shuangsui.errors import IntegrityError
from tests.findings.factories import ROUND, drawn_round, final_finding
from website.site import publish

_FV = FindingVersion.__table__  # type: ignore[attr-defined]
_F = Finding.__table__  # type: ignore[attr-defined]


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
