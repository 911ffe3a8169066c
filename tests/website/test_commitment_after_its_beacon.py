"""A commitment first published after the beacon round it names was emitted.

A round whose entropy is a drand beacon round names the round at its commitment; the value
exists from that round's time on, drawn or not. The site judged whether a commitment was
published "before the draw" by the round's status alone: a beacon round still committed
(its draw waiting for the beacon server, or for the next run) when the daily publish first
put its commitment on the site, hours after the beacon round was public, was said to have
been published 在产生随机数之前, which the page then offered as the proof of timing. A
commitment put on the site once its named entropy exists proves nothing about timing, and the
pages now say so, as for a round already drawn."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from rounds import service
from shuangsui.config import get_settings
from tests.rounds.factories import plan_yaml, seed_registry
from tests.servers import answer_json
from website.site import publish

KEY = "ccc-2026-12"
CHAIN = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
PERIOD = 30
GENESIS = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp())
CLAIM = "在产生随机数之前，本局公布了本轮的"
CAVEAT = "不能证明承诺早于随机数公开"


class _Info(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.strip("/").split("/") != [CHAIN, "info"]:
            self.send_error(404)
            return
        answer_json(self, {"genesis_time": GENESIS, "period": PERIOD, "hash": CHAIN})

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def beacon(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A drand server on loopback, made the round's only entropy source."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Info)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("SHUANGSUI_ENTROPY_SOURCES", "beacon")
    monkeypatch.setenv("SHUANGSUI_BEACON_URL", url)
    monkeypatch.setenv("SHUANGSUI_BEACON_CHAIN_HASH", CHAIN)
    get_settings.cache_clear()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        get_settings.cache_clear()


def test_a_commitment_first_published_after_its_beacon_round_says_it_proves_nothing(
    engine: sa.Engine, tmp_path: Path, beacon: str
) -> None:
    seed_registry(engine)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    (spec,) = rnd.entropy_plan["sources"]
    assert spec["source"] == "beacon" and spec["url"] == beacon
    emitted = dt.datetime.fromisoformat(spec["expected_at"])

    # published before the beacon round: the commitment precedes its entropy, and says so
    early = tmp_path / "early"
    publish(engine, early, bundles=False, record=False, now=emitted - dt.timedelta(seconds=5))
    page = (early / "rounds" / KEY / "commitment.html").read_text("utf-8")
    assert CAVEAT not in page
    assert CLAIM in (early / "rounds" / KEY / "index.html").read_text("utf-8")

    # first published an hour after the beacon round, the round still waiting to be drawn
    late = tmp_path / "late"
    publish(engine, late, bundles=False, now=emitted + dt.timedelta(hours=1))
    page = (late / "rounds" / KEY / "commitment.html").read_text("utf-8")
    assert CAVEAT in page and "事先指定的随机数已经产生" in page
    round_page = (late / "rounds" / KEY / "index.html").read_text("utf-8")
    assert CLAIM not in round_page and CAVEAT in round_page
    assert "事先指定的随机数已经产生" in round_page
    assert service.get_round(engine, KEY).status.value == "committed"
