"""A round read again only because findings were added to it since the last publish reads those
findings' results alone (website/inputs.py, ``written_since``); every other result of the round
is the one its files were made from (website/fragments.py, ``completed``). Whatever was added,
the site is then byte for byte the one a publish into an empty folder makes; a change the
added rows do not account for (a row rewritten in place beside them) makes the round read
whole, and a rewritten result is still refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from findings import service as findings
from shuangsui.errors import IntegrityError
from tests.findings.factories import ROUND, final_finding, finding
from tests.website.test_incremental import Site, _two_rounds
from tests.website.test_publish_refusal import _everything, _refusal, _rewrite
from website.site import publish


def test_findings_added_are_read_alone_and_the_site_is_a_full_publishs(
    engine: sa.Engine, tmp_path: Path
) -> None:
    teams, codes = _two_rounds(engine)
    site = Site(engine, tmp_path)  # each publish compared with one into an empty folder
    assert site.publish().read_in_part == []

    # a correction of a published result, with markup and a formula in what it shows
    final_finding(engine, codes[0], teams[codes[0]], result="other", reason="=1+1<b>更正</b>",
                  description='<script>"x"</script>')  # fmt: skip
    report = site.publish()
    assert report.reread == [ROUND] and report.read_in_part == [ROUND]
    assert report.newly_published == 1
    assert "=1+1<b>更正</b>" in (site.out / "data" / "results.json").read_text("utf-8")

    # a version signed by part of the team: read, nothing shown, nothing written
    v = findings.submit(engine, round_key=ROUND, credit_code=codes[0], data=finding(
        "no_problem", reason="再更正"), submitted_by=f"inspector:{teams[codes[0]][0]}",
        signers=[teams[codes[0]][0]])  # fmt: skip
    report = site.publish()
    assert report.read_in_part == [ROUND] and report.written == []

    # its last signature is a sign-off of a version the last publish saw: read whole
    for member in teams[codes[0]][1:]:
        findings.sign_off(engine, round_key=ROUND, credit_code=codes[0], version=v.version,
                          inspector_id=member)  # fmt: skip
    report = site.publish()
    assert report.reread == [ROUND] and report.read_in_part == []
    assert report.newly_published == 1

    # two results at once, one of them new
    final_finding(engine, codes[0], teams[codes[0]], result="unreachable", reason="三更")
    final_finding(engine, codes[1], teams[codes[1]], result="not_disclosed")
    report = site.publish()
    assert report.reread == [ROUND] and report.newly_published == 2
    assert publish(engine, site.out).reread == []  # and then nothing more


def test_a_row_rewritten_beside_a_correction_makes_the_round_read_whole(
    engine: sa.Engine, tmp_path: Path
) -> None:
    teams, codes = _two_rounds(engine)
    final_finding(engine, codes[1], teams[codes[1]])
    out = tmp_path / "site"
    publish(engine, out)
    _rewrite(engine, codes[1], result="other")  # the stored result changed, its hash not
    final_finding(engine, codes[0], teams[codes[0]], result="other", reason="更正")
    before = _everything(engine, out)
    with pytest.raises(IntegrityError) as refused:
        publish(engine, out)
    assert _refusal(codes[1]) in str(refused.value)
    assert _everything(engine, out) == before
