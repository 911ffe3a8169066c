"""A round whose stored frame no longer matches its commitment, as the public site says it.

An operator who has worked out, from the ceremony's digits and the frame, that the draw will
not suit can change the stored frame (the artifact and the digest kept with it) before
entering the digits: the draw then stops, the round failing with "the frames or plan differ
from the commitments recorded before entropy", and the same plan may be committed again under
a new key (a failed round holds no window). The coordinator's pages say the data was changed
after the commitment; the public round page said 抽取参数与名录不相容（详见审计记录）, a
plan that could not be drawn, and promised a verification bundle after the check window that
such a round never gets (its entropy is not kept). It now says what happened and that no
bundle will come."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from rounds import service
from rounds.entropy import EntropyInput
from rounds.models import RoundArtifact, RoundStatus
from shuangsui.errors import PlanError
from tests.browser import headless, phone
from tests.rounds.factories import plan_yaml, seed_registry
from tests.website.test_phone import _measure
from website.site import publish

KEY = "ccc-2026-12"


def test_a_round_failed_on_a_frame_changed_after_its_commitment_says_so(
    engine: sa.Engine, tmp_path: Path
) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    with Session(engine) as s:  # a random firm of the frame made targeted, its digest too
        art = s.exec(select(RoundArtifact).where(RoundArtifact.round_key == KEY,
                                                 RoundArtifact.name == "frame-enterprises.jsonl")
                     ).one()  # fmt: skip
        lines = gzip.decompress(art.content).split(b"\n")
        lines[0] = lines[0].replace(b'"status":"random"', b'"status":"targeted"')
        data = b"\n".join(lines)
        art.content, art.sha256 = gzip.compress(data), hashlib.sha256(data).hexdigest()
        s.add(art)
        s.commit()
    with pytest.raises(PlanError, match="differ from the commitments recorded before entropy"):
        digits = EntropyInput("31415926535897932384626433", ("张三",))
        service.draw_round(engine=engine, round_key=KEY, entropy=digits)
    assert service.get_round(engine, KEY).status is RoundStatus.failed

    out = tmp_path / "site"
    publish(engine, out)
    page = (out / "rounds" / KEY / "index.html").read_text("utf-8")
    assert "与抽取前公布的承诺值不符" in page and "不会有验证包" in page
    assert "不相容" not in page and "详见审计记录" not in page
    assert "验证包在检查时段结束后" not in page  # none will come
    assert not (out / "rounds" / KEY / "bundle").exists()
    with headless() as browser:  # as a phone shows it, JavaScript off: nothing too wide
        context = phone(browser)
        shown = context.new_page()
        shown.goto((out / "rounds" / KEY / "index.html").as_uri())
        assert "不会有验证包" in _measure(shown, tmp_path / "round.png")["text"]
        context.close()
