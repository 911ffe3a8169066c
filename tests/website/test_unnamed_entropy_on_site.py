"""The public site on a round drawn with entropy its commitment did not name.

The round page compared the entropy sources of commitment.json with ``meta.entropy_plan``
(the commitment again), said 一致, and introduced the records as 随机数按承诺中事先指定的来源
产生: a draw that took a "commit-reveal" secret chosen after the ceremony's digits (the bundle's
verify.py prints OK on it) looked like any other, and before the reveal (the default
``after-window``) no bundle is even checked by a publish. Now the page compares the records the
draw took (entropy.json) with the sources named, and says loudly when they are not those."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from rounds import service
from rounds.entropy import EntropyInput
from shuangsui.errors import IntegrityError
from tests.browser import headless, phone
from tests.rounds.factories import plan_yaml, seed_registry
from tests.rounds.test_unnamed_entropy import DIGITS, KEY, WITNESSES, drawn_with_an_unnamed_record
from tests.website.test_commitments import compared_rows
from tests.website.test_phone import _measure
from website.site import publish

ROW = "抽取实际使用的随机数（验证包的 entropy.json，依次）"
ALERT = "警告：本轮抽取所用的随机数与"


def test_a_draw_with_an_unnamed_record_is_said_on_the_site(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_registry(engine)
    drawn_with_an_unnamed_record(engine, monkeypatch)
    out = tmp_path / "site"
    publish(engine, out, bundles=False)  # the page as a publish before the reveal shows it
    page = (out / "rounds" / KEY / "index.html").read_text("utf-8")
    assert ALERT in page and 'role="alert"' in page
    assert "随机数按承诺中事先指定的来源产生" not in page
    assert "与承诺中事先指定的来源不符" in page
    published, drawn, verdict = compared_rows(page)[ROW]
    assert published.startswith("抽取仪式上由见证人当场公开产生的随机数字")
    assert drawn == "见证人当场产生的随机数字（26 位）；事先承诺、事后公开的秘密（本局公告栏）"
    assert verdict == "不一致"
    index = (out / "index.html").read_text("utf-8")
    assert "警告：所用随机数与承诺指定的来源不符" in index
    with headless() as browser:  # as a phone shows them, JavaScript off: nothing too wide
        context = phone(browser)
        shown = context.new_page()
        for rel in ("index.html", f"rounds/{KEY}/index.html"):
            shown.goto((out / rel).as_uri())
            text = _measure(shown, tmp_path / (rel.replace("/", "-") + ".png"))["text"]
            assert "随机数与承诺" in text, rel
        context.close()

    # its bundle, once revealed (on-draw here), is refused by the publish as by round verify
    with pytest.raises(IntegrityError, match="entropy record"):
        publish(engine, tmp_path / "with-bundles")


def test_an_honest_draw_compares_its_records_and_says_nothing_more(
    engine: sa.Engine, tmp_path: Path
) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    service.draw_round(engine=engine, round_key=KEY, entropy=EntropyInput(DIGITS, WITNESSES))
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    page = (out / "rounds" / KEY / "index.html").read_text("utf-8")
    assert ALERT not in page and "随机数按承诺中事先指定的来源产生" in page
    assert compared_rows(page)[ROW][1:] == ("见证人当场产生的随机数字（26 位）", "一致")
    assert "所用随机数与承诺指定的来源不符" not in (out / "index.html").read_text("utf-8")
