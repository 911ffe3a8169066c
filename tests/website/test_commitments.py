"""Commitments are public before the ceremony and never change afterwards; failures too.

`publish` before the draw puts the round's commitment (file and page) on the site; after the
draw the same files are byte-identical. `shuangsui round notice` prints the notice for the
notice board and the ceremony record. A failed round is on the site with its statement and a
bundle whose verify.py confirms the failure.
"""

from __future__ import annotations

import json
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
    assert DIGITS in (folder / "index.html").read_text("utf-8")
    verdict = run_verify_script(folder / "bundle")
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
    assert "recused" not in page and "leave" not in page  # plain Chinese, public terms only
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
