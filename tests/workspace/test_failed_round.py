"""A round that failed at its draw, as its coordinator sees it: the month says 摇号失败 (it
said 已摇号), and the round's page says why in Chinese, what to do next, and the reason as the
round records it (the words its bundle carries)."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from api import tokens
from api.app import create_app
from rounds import service
from rounds.models import RoundArtifact, RoundKind
from shuangsui.config import get_settings
from shuangsui.errors import InfeasibleDraw, UserError
from tests.findings.live import serve
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import sign_in
from workspace.failures import failure_said

ROUND = "ccc-2026-12"


def test_a_failed_round_is_said_failed_and_why_on_the_coordinators_pages(
    engine: sa.Engine,
) -> None:
    seed_registry(engine, inspectors=3)
    service.commit_round(engine=engine, plan_text=plan_yaml(size=4))  # teams of 4 from 3
    with pytest.raises(InfeasibleDraw) as failed:
        service.draw_round(engine=engine, round_key=ROUND,
                           entropy=service.EntropyInput(witness_digits="31415926535897932384",
                                                        witnesses=["陈明", "林晓"]))  # fmt: skip
    code = re.search(r"(\w{18}): needs", str(failed.value))
    assert code is not None
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        month = http.get("/w/c/?period=2026-12")
        page = http.get(f"/w/c/rounds/{ROUND}")
    row = next(tr for tr in month.text.split("<tr")[1:] if f">{ROUND}</a>" in tr)
    assert "摇号失败" in row and "已摇号" not in row
    assert page.status_code == 200
    said = page.text.split("<dt>失败原因</dt>", 1)[1].split("</dd>", 1)[0]
    assert f"企业 {code[1]} 需要 4 名检查人员，符合条件的只有 3 名" in said
    assert "人数少于检查组人数" in said  # no rule set anyone aside: there are too few
    assert "每个轮次只摇号一次" in said and 'href="/w/c/adhoc"' in said
    assert f"系统记录：{code[1]}: needs 4 inspectors" in said  # as the round records it


@pytest.mark.parametrize(
    ("recorded", "said"),
    [
        ("913501000000000001: needs 2 inspectors, 1 eligible (3 at the workload cap); rule "
         "eliminating the most: 'workload' (at the workload cap); shortfall 1",
         "排除人数最多的条件是“已达工作量上限”"),
        ("the frames or plan differ from the commitments recorded before entropy",
         "数据在提交后被改动过"),
        ("strata.weights: no weight for a risk class in stratum 350100/D",
         "计划或名录库中有摇号时不能接受的内容"),
    ],
)  # fmt: skip
def test_each_recorded_failure_is_said_in_chinese(recorded: str, said: str) -> None:
    text = failure_said(recorded)
    assert said in text and not re.search(r"[A-Za-z]{3,}", text)


def test_a_failed_round_and_the_ad_hoc_round_after_it_are_both_in_the_month(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The monthly round of a plan in the folder failed, and the coordinator started an ad hoc
    round of the same plan (as its page says to): the month lists the plan's own round, failed,
    and the ad hoc round on a row of its own, with its reason."""
    seed_registry(engine, inspectors=3)
    plans_folder(tmp_path, monkeypatch, files={"ccc.yaml": plan_yaml(size=4)})
    service.commit_round(engine=engine, plan_text=plan_yaml(size=4))
    with pytest.raises(InfeasibleDraw):
        service.draw_round(engine=engine, round_key=ROUND,
                           entropy=service.EntropyInput(witness_digits="31415926535897932384",
                                                        witnesses=["陈明", "林晓"]))  # fmt: skip
    adhoc = "adhoc-ccc-2026-12-1"
    service.commit_round(engine=engine, plan_text=plan_yaml(size=2), kind=RoundKind.adhoc,
                         round_key=adhoc, requested_by="李协调", reason="投诉举报")  # fmt: skip
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        month = http.get("/w/c/?period=2026-12")
    rows = {key: tr for tr in month.text.split("<tr")[1:] for key in (ROUND, adhoc)
            if f">{key}</a>" in tr}  # fmt: skip
    assert set(rows) == {ROUND, adhoc}
    assert "摇号失败" in rows[ROUND] and "（临时抽查：" not in rows[ROUND]
    assert "（临时抽查：投诉举报）" in rows[adhoc] and "已提交" in rows[adhoc]


def test_a_round_whose_frame_changed_after_its_commitment_offers_no_new_round(
    engine: sa.Engine,
) -> None:
    """A draw that fails because a frame was changed after the commitment: the page says to
    report it and keep things as they are, and offers no link to start another round."""
    codes = seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    with Session(engine) as s:  # a consistent forgery of the frame, as tests/rounds does
        art = s.get(RoundArtifact, (ROUND, "frame-enterprises.jsonl"))
        assert art is not None
        lines = gzip.decompress(art.content).splitlines(keepends=True)
        data = b"".join(line for line in lines if codes[5].encode() not in line)
        art.content, art.sha256 = gzip.compress(data), hashlib.sha256(data).hexdigest()
        s.add(art)
        s.commit()
    with pytest.raises(UserError, match="differ from the commitments"):
        service.draw_round(engine=engine, round_key=ROUND,
                           entropy=service.EntropyInput(witness_digits="31415926535897932384",
                                                        witnesses=["陈明", "林晓"]))  # fmt: skip
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        page = http.get(f"/w/c/rounds/{ROUND}")
    said = page.text.split("<dt>失败原因</dt>", 1)[1].split("</dd>", 1)[0]
    assert "不要重新发起" in said and "/w/c/adhoc" not in said


def test_every_rule_of_the_team_draw_is_said_in_chinese() -> None:
    """A rule the team draw adds (``draw.teams.RULES``) would be shown by its English name."""
    from draw.teams import RULES as DRAWN
    from workspace.failures import RULES

    assert set(RULES) == set(DRAWN)
