"""A commitment's "first published" moment is taken once its file is in place.

The publish stamped a commitment it put on the site for the first time with the moment the
publish started, and judged by that moment whether it came before its entropy (the beacon
round named a lead after the commitment): a publish that took longer than the lead before its
files were written claimed a moment before they existed, and 在产生随机数之前 with it. Now the
new commitments go on the site first, and each is stamped once its commitment.json is in place
(written and renamed); its page says that moment. A stamp recorded is never taken again."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from rounds import disclosure, service
from shuangsui.clock import local_label
from tests.rounds.beacon_clock import Drand, drand  # noqa: F401  (a fixture)
from tests.rounds.factories import plan_yaml, seed_registry
from website.site import publish

KEY = "ccc-2026-12"
CLAIM = "在产生随机数之前，本局公布了本轮的"
CAVEAT = "不能证明承诺早于随机数公开"


def _stamp(engine: sa.Engine) -> tuple[dt.datetime, bool]:
    rnd = service.get_round(engine, KEY)
    at = rnd.commitment_published_at
    assert at is not None
    return at.replace(tzinfo=at.tzinfo or dt.UTC), bool(rnd.commitment_published_before_draw)


def test_a_publish_that_reaches_the_commitment_after_its_beacon_round_says_so(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    drand: Drand,  # noqa: F811
) -> None:
    """The disclosure clock reads a minute before the beacon round's time until the
    commitment's file is in place, and a minute after it from then on: a publish whose files
    came after the beacon round, however early it started."""
    seed_registry(engine)
    (spec,) = service.commit_round(engine=engine, plan_text=plan_yaml()).entropy_plan["sources"]
    emitted = dt.datetime.fromisoformat(spec["expected_at"])
    started, placed = emitted - dt.timedelta(minutes=1), emitted + dt.timedelta(minutes=1)
    site = tmp_path / "site"
    commitment = site / "rounds" / KEY / "commitment.json"
    read: list[bool] = []

    def clock() -> dt.datetime:
        read.append(commitment.is_file())
        return placed if commitment.is_file() else started

    monkeypatch.setattr(disclosure, "now", clock)
    publish(engine, site, bundles=False)
    assert read[0] is False and True in read  # read at the start, and once the file was there
    assert _stamp(engine) == (placed, False)
    page = (site / "rounds" / KEY / "commitment.html").read_text("utf-8")
    assert f"本页首次公布于 <b>{local_label(placed)}</b>" in page and CAVEAT in page
    round_page = (site / "rounds" / KEY / "index.html").read_text("utf-8")
    assert f"本站首次公布于 {local_label(placed)}" in round_page
    assert CLAIM not in round_page and CAVEAT in round_page

    # recorded once: a later publish writes the same bytes and keeps the stamp
    files = {p: p.read_bytes() for p in (commitment, commitment.with_suffix(".html"))}
    monkeypatch.setattr(disclosure, "now", lambda: placed + dt.timedelta(hours=2))
    publish(engine, site, bundles=False)
    assert {p: p.read_bytes() for p in files} == files and _stamp(engine) == (placed, False)


def test_a_commitment_in_place_before_its_beacon_round_is_stamped_before_it(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    drand: Drand,  # noqa: F811
) -> None:
    seed_registry(engine)
    (spec,) = service.commit_round(engine=engine, plan_text=plan_yaml()).entropy_plan["sources"]
    emitted = dt.datetime.fromisoformat(spec["expected_at"])
    site = tmp_path / "site"
    commitment = site / "rounds" / KEY / "commitment.json"
    placed = emitted - dt.timedelta(seconds=5)
    early = placed - dt.timedelta(minutes=9)
    monkeypatch.setattr(disclosure, "now", lambda: placed if commitment.is_file() else early)
    publish(engine, site, bundles=False)
    assert _stamp(engine) == (placed, True)
    page = (site / "rounds" / KEY / "commitment.html").read_text("utf-8")
    assert local_label(placed) in page and CAVEAT not in page
    assert CLAIM in (site / "rounds" / KEY / "index.html").read_text("utf-8")
