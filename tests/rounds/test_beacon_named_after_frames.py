"""A round's beacon is named after its frames are read, never before.

``commit_round`` named the beacon round (the first after "now") and only then read the registry
into the frames, which for a large registry takes seconds; a drand chain of a 3-second period
can emit the round named meanwhile. Whatever changed in the registry between the naming and
the reading (an enterprise's risk class, a conflict declared, a certificate) went into the
frame, so the frame was not fixed before its entropy could exist. Here the beacon server
itself changes the registry when it is asked for the chain's info, as an insider watching the
beacon would: the change must not be in the frame committed."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry.models import Enterprise, RiskClass
from rounds import service
from rounds.artifacts import load_inputs
from shuangsui.config import get_settings
from tests.rounds.factories import plan_yaml, seed_registry
from tests.servers import answer_json

KEY = "ccc-2026-12"
CHAIN = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
GENESIS = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp())


class _Beacon(BaseHTTPRequestHandler):
    on_info: list = []  # what the server does when asked for the chain's info (once)

    def do_GET(self) -> None:
        if self.path.strip("/").split("/") != [CHAIN, "info"]:
            self.send_error(404)
            return
        while self.on_info:
            self.on_info.pop()()
        answer_json(self, {"genesis_time": GENESIS, "period": 3, "hash": CHAIN})

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def beacon(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_Beacon]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Beacon)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("SHUANGSUI_ENTROPY_SOURCES", "beacon")
    monkeypatch.setenv("SHUANGSUI_BEACON_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("SHUANGSUI_BEACON_CHAIN_HASH", CHAIN)
    get_settings.cache_clear()
    try:
        yield _Beacon
    finally:
        _Beacon.on_info.clear()
        server.shutdown()
        server.server_close()
        thread.join()
        get_settings.cache_clear()


def test_a_registry_change_made_once_the_beacon_is_named_is_not_in_the_frame(
    engine: sa.Engine, beacon: type[_Beacon]
) -> None:
    seed_registry(engine)
    with Session(engine) as s:
        target = s.exec(select(Enterprise).order_by(Enterprise.credit_code)).first()
        assert target is not None and target.risk_class is not RiskClass.D
        code, was = target.credit_code, target.risk_class.value

    def insider() -> None:  # the beacon round is named: make the firm high-risk (D: 100%)
        with Session(engine) as s:
            s.execute(sa.update(Enterprise).where(Enterprise.credit_code == code)  # type: ignore[arg-type]
                      .values(risk_class=RiskClass.D))  # fmt: skip
            s.commit()

    beacon.on_info.append(insider)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    assert rnd.entropy_plan["sources"][0]["source"] == "beacon"
    assert not beacon.on_info  # the server was asked, and the registry changed

    with Session(engine) as s:
        frame = {u.credit_code: u for u in load_inputs(s, KEY).enterprises}
    assert frame[code].risk_class == was  # the frame as read before the beacon was named
