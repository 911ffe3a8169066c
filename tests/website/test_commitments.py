"""Commitments are public before the ceremony and never change afterwards; failures too.

`publish` before the draw puts the round's commitment (file and page) on the site; after the
draw the same files are byte-identical. `shuangsui round notice` prints the notice for the
notice board and the ceremony record. A failed round is on the site with its statement and a
bundle whose verify.py confirms the failure.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from rounds import service
from rounds.bundle import run_verify_script
from shuangsui.cli import _register_groups, app
from shuangsui.errors import InfeasibleDraw, IntegrityError
from tests.rounds.factories import plan_yaml, seed_registry
from website.site import publish

KEY = "ccc-2026-12"
DIGITS = "31415926535897932384626433"
WITNESSES = ("张三", "李四")


def _draw(engine: sa.Engine) -> None:
    service.draw_round(
        engine=engine,
        round_key=KEY,
        entropy=service.EntropyInput(witness_digits=DIGITS, witnesses=WITNESSES),
    )


def test_the_commitment_is_published_before_the_draw_and_never_changes(
    engine: sa.Engine, tmp_path: Path
) -> None:
    seed_registry(engine)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    folder = out / "rounds" / KEY
    before = {name: (folder / name).read_bytes() for name in ("commitment.json", "commitment.html")}
    doc = json.loads(before["commitment.json"])
    assert doc["commitments"]["frame_commitment"] == rnd.frame_commitment
    assert doc["commitments"]["frame_root"] == rnd.frame_merkle_root
    assert doc["commitments"]["frame_size"] == 60 and doc["commitments"]["inspector_size"] == 12
    assert doc["commitments"]["public_inspector_commitment"] == rnd.public_inspector_commitment
    assert doc["commitments"]["public_recused_commitment"] == rnd.public_recused_commitment
    assert doc["entropy_sources"] == [{"source": "witness-digits", "min_digits": 20}]
    assert doc["rates"]["A"] == "10%" and doc["window"]["start"] == "2026-12-07"
    assert "seed" not in doc and "entropy" not in doc
    page = before["commitment.html"].decode("utf-8")
    for fact in (rnd.frame_commitment, rnd.plan_hash, "国市监信〔2019〕38号", "见证人", "北京时间"):
        assert fact in page, fact
    assert "首次公布于" in page and "不能证明" not in page
    index = (out / "index.html").read_text("utf-8")
    assert "已承诺，待抽取" in index
    assert "尚未抽取" in (folder / "index.html").read_text("utf-8")
    assert not (folder / "bundle").exists()

    _draw(engine)
    with engine.begin() as conn:  # a later registry import renames the check item
        conn.execute(sa.text("UPDATE checkitem SET name = 'CCC 一致性检查（新名）'"))
    publish(engine, out)
    for name, data in before.items():
        assert (folder / name).read_bytes() == data, f"{name} changed after the draw"
    round_page = (folder / "index.html").read_text("utf-8")
    assert DIGITS in round_page
    assert "在产生随机数之前，本局公布了本轮的" in round_page
    assert "不能证明承诺早于随机数公开" not in round_page
    compared = compared_rows(round_page)
    assert len(compared) >= 12 and all(verdict == "一致" for *_, verdict in compared.values())
    assert compared["企业名录的承诺值"][:2] == (rnd.frame_commitment, rnd.frame_commitment)
    assert 'href="commitment.json"' in round_page.split('id="verify"')[1]  # to download
    verdict = run_verify_script(folder / "bundle")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    together = tmp_path / "downloaded"  # the page has the reader put both in one folder
    shutil.copytree(folder / "bundle", together)
    shutil.copy(folder / "commitment.json", together)
    verdict = run_verify_script(together)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    seed = json.loads((folder / "bundle" / "round.json").read_text("utf-8"))["commitments"]
    assert seed["frame_commitment"] == doc["commitments"]["frame_commitment"]


def test_a_published_commitment_is_never_overwritten(engine: sa.Engine, tmp_path: Path) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    path = out / "rounds" / KEY / "commitment.json"
    forged = path.read_bytes().replace(b'"frame_size":60', b'"frame_size":61')
    path.write_bytes(forged)
    with pytest.raises(IntegrityError, match="never rewritten"):
        publish(engine, out, bundles=False)
    assert path.read_bytes() == forged


def test_a_commitment_written_otherwise_with_the_same_values_is_no_difference(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """Whether the site's commitment is the database's is decided on its values, once, for the
    error and the page alike: another serialisation of the same values is kept as it is and
    raises nothing."""
    import json

    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    path = out / "rounds" / KEY / "commitment.json"
    spaced = json.dumps(json.loads(path.read_bytes()), indent=2).encode()
    path.write_bytes(spaced)
    publish(engine, out, bundles=False)
    assert path.read_bytes() == spaced
    page = (out / "rounds" / KEY / "index.html").read_text("utf-8")
    assert "不一致" not in page and "警告" not in (out / "index.html").read_text("utf-8")


def test_a_failed_round_is_published_with_a_bundle_confirming_the_failure(
    engine: sa.Engine, tmp_path: Path
) -> None:
    seed_registry(engine, inspectors=3)
    service.commit_round(engine=engine, plan_text=plan_yaml(size=4))
    out = tmp_path / "site"
    publish(engine, out)
    commitment = (out / "rounds" / KEY / "commitment.json").read_bytes()
    with pytest.raises(InfeasibleDraw):
        _draw(engine)
    publish(engine, out)
    folder = out / "rounds" / KEY
    assert (folder / "commitment.json").read_bytes() == commitment
    page = (folder / "index.html").read_text("utf-8")
    assert "本轮抽取未能完成" in page and "需要 4 名检查人员" in page
    # plain Chinese, public terms only: nothing of why inspectors were not eligible (the
    # commitment's field names, public_recused_commitment among them, are public terms)
    assert "recused for" not in page and "conflict" not in page and "leave" not in page
    verdict = run_verify_script(folder / "bundle")
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert "confirmed: the round fails" in verdict.stdout
    assert "未能完成" in (out / "index.html").read_text("utf-8")


def test_a_commitment_first_published_after_the_draw_says_so(
    engine: sa.Engine, tmp_path: Path
) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    _draw(engine)
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    page = (out / "rounds" / KEY / "commitment.html").read_text("utf-8")
    assert "本页不能证明承诺早于随机数公开" in page
    round_page = (out / "rounds" / KEY / "index.html").read_text("utf-8")
    assert "在产生随机数之前" not in round_page and "抽取前公布了什么" not in round_page
    assert "本承诺首次在本站公布时，本轮已经进入抽取或抽取之后" in round_page
    assert "本站不能证明承诺早于随机数公开" in round_page


def compared_rows(page: str) -> dict[str, tuple[str, str, str]]:
    """The round page's comparison table: item -> (as first published, as drawn, verdict)."""
    table = re.search(r'<table class="list compare" id="compare">(.*?)</table>', page, re.S)
    assert table is not None, "no comparison table"
    rows = {}
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(1).split("<tbody>")[1], re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        label, *values = (html.unescape(re.sub(r"<[^>]+>", "", c.split("<br>")[0])) for c in cells)
        rows[label] = (values[0], values[1], values[2])
    return rows


def test_a_frame_changed_after_the_commitment_shows_on_the_round_page(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """The list swapped after the ceremony: the round gets a new frame commitment, root and
    size (and would get a new seed and a bundle agreeing with itself). The page compares every
    committed value with the commitment published before the draw and says loudly which
    differ; the published commitment stays as it was and publish fails naming the round."""
    seed_registry(engine)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    published = (out / "rounds" / KEY / "commitment.json").read_bytes()
    _draw(engine)
    swapped, root = "ab" * 32, "cd" * 32
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE round SET frame_commitment = :c, frame_merkle_root = :r, frame_size = 61 "
                "WHERE round_key = :k"
            ),
            {"c": swapped, "r": root, "k": KEY},
        )
    with pytest.raises(IntegrityError, match=f"{KEY}.*never rewritten"):
        publish(engine, out, bundles=False)
    assert (out / "rounds" / KEY / "commitment.json").read_bytes() == published
    page = (out / "rounds" / KEY / "index.html").read_text("utf-8")
    compared = compared_rows(page)
    assert compared["企业名录的承诺值"] == (rnd.frame_commitment, swapped, "不一致")
    assert compared["企业名录的默克尔根"] == (rnd.frame_merkle_root, root, "不一致")
    assert compared["企业名录户数"] == ("60", "61", "不一致")
    assert compared["抽查计划的计划哈希"] == (rnd.plan_hash, rnd.plan_hash, "一致")
    assert compared["检查人员名录的承诺值"][2] == "一致"
    alarm = re.search(r'<p class="alarm" role="alert">(.*?)</p>', page, re.S)
    assert alarm is not None, "the difference is not reported at the top of the page"
    said = re.sub(r"<[^>]+>", "", alarm.group(1))
    assert "警告：本轮抽取所用的承诺值与本站首次公布的承诺值不一致" in said
    assert "企业名录户数、企业名录的承诺值、企业名录的默克尔根" in said
    # what the page says was committed is what was published, not the database's new value
    assert swapped not in page.split('id="commitment"')[1].split("</dl>")[0]
    index = (out / "index.html").read_text("utf-8")
    assert "警告：承诺值与首次公布的不一致" in index
    with pytest.raises(IntegrityError, match="never rewritten"):  # and again, every publish
        publish(engine, out, bundles=False)


# ---------------------------------------------------------------- shuangsui round notice
@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def test_round_notice_prints_the_notice_and_the_ceremony_record(
    cli: CliRunner, engine: sa.Engine, tmp_path: Path
) -> None:
    seed_registry(engine)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    before = cli.invoke(
        app, ["round", "notice", KEY, "--out", str(tmp_path / "n1"), "--place", "三楼会议室"]
    )
    assert before.exit_code == 0, before.output
    notice = (tmp_path / "n1" / f"{KEY}-notice.html").read_text("utf-8")
    facts = (rnd.frame_commitment, rnd.inspector_commitment, "《强制性产品认证管理规定》",
             "强制性产品认证获证产品一致性检查", "2026-12-07 至 2026-12-31", "见证人",
             "三楼会议室", "北京时间", "公　告", "@page", "A4")  # fmt: skip
    for fact in facts:
        assert fact in notice, fact
    assert "http" not in notice.replace("http-equiv", "")  # no external assets
    record = (tmp_path / "n1" / f"{KEY}-ceremony-record.html").read_text("utf-8")
    assert "抽取见证记录" in record and "见证人签字" in record and "不予公开" in record
    assert DIGITS not in record

    _draw(engine)
    after = cli.invoke(app, ["round", "notice", KEY, "--out", str(tmp_path / "n2")])
    assert after.exit_code == 0, after.output
    record = (tmp_path / "n2" / f"{KEY}-ceremony-record.html").read_text("utf-8")
    drawn = service.get_round(engine, KEY)
    assert DIGITS in record and "张三、李四" in record and drawn.seed and drawn.seed in record
    with engine.connect() as conn:
        first = (
            conn.execute(
                sa.text(
                    "SELECT credit_code FROM selection WHERE round_key = :k "
                    "ORDER BY kind DESC, stratum, rank LIMIT 10"
                ),
                {"k": KEY},
            )
            .scalars()
            .all()
        )
    assert len(first) == 10 and all(code in record for code in first)

    missing = cli.invoke(app, ["round", "notice", "no-such-round", "--out", str(tmp_path / "n3")])
    assert missing.exit_code != 0
    assert "round no-such-round does not exist" in str(missing.exception) + missing.output
