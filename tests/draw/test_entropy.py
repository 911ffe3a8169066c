import datetime as dt
import hashlib
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from draw.entropy import CommitReveal, DrandBeacon, WitnessDigits, check_record, check_records
from draw.errors import EntropyInvalid, EntropyUnavailable
from draw.seed import derive_seed
from tests.servers import answer_json

CHAIN = "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971"
GENESIS, PERIOD = 1_692_803_367, 3
SIG = hashlib.sha512(b"sig").hexdigest() + hashlib.sha256(b"sig").hexdigest()


def public(round_no: int, sig: str = SIG) -> dict:
    return {"round": round_no, "randomness": hashlib.sha256(bytes.fromhex(sig)).hexdigest(),
            "signature": sig}  # fmt: skip


def at(round_no: int, plus: int = 0) -> dt.datetime:
    return dt.datetime.fromtimestamp(GENESIS + (round_no - 1) * PERIOD + plus, dt.UTC)


def mock_transport(body: dict | None = None, status: int = 200) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == f"/{CHAIN}/info":
            return httpx.Response(200, json={"genesis_time": GENESIS, "period": PERIOD,
                                             "hash": CHAIN})  # fmt: skip
        round_no = int(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(status, json=body if body is not None else public(round_no))

    return httpx.MockTransport(handler)


def beacon(transport: httpx.BaseTransport, now: dt.datetime, base: str = "http://drand.test"):
    return DrandBeacon(base, CHAIN, transport=transport, now=lambda: now)


def test_beacon_fetch_records_the_named_round() -> None:
    rec = beacon(mock_transport(), at(1000, 5)).fetch(1000)
    assert rec["round"] == 1000 and rec["source"] == "beacon" and rec["chain_hash"] == CHAIN
    check_record(rec)


def test_future_round_says_when_to_come_back() -> None:
    b = beacon(mock_transport(), at(1000, -1))
    expected = at(1000).isoformat()
    with pytest.raises(
        EntropyUnavailable,
        match=re.escape(f"waiting for beacon round 1000, expected at {expected}"),
    ):
        b.fetch(1000)


def test_round_after_names_a_future_round() -> None:
    b = beacon(mock_transport(), at(10))
    assert b.round_after(at(10)) == 11
    assert b.round_after(at(10, 1)) == 11
    assert b.round_time(11) > at(10, 1)


def test_beacon_answering_another_round_is_refused() -> None:
    with pytest.raises(
        EntropyInvalid, match="answered round 999, the round named in advance is 1000"
    ):
        beacon(mock_transport(public(999)), at(1000, 5)).fetch(1000)


def test_beacon_randomness_must_hash_the_signature() -> None:
    body = public(1000)
    body["randomness"] = "00" * 32
    with pytest.raises(EntropyInvalid, match=r"randomness != sha256\(signature\)"):
        beacon(mock_transport(body), at(1000, 5)).fetch(1000)


def test_beacon_not_yet_published_or_down() -> None:
    with pytest.raises(EntropyUnavailable, match="HTTP 404"):
        beacon(mock_transport(status=404), at(1000, 5)).fetch(1000)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(EntropyUnavailable, match="unreachable"):
        beacon(httpx.MockTransport(refuse), at(1000, 5)).fetch(1000)


class _Drand(BaseHTTPRequestHandler):
    latest = 500

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if parts == [CHAIN, "info"]:
            body: dict = {"genesis_time": GENESIS, "period": PERIOD, "hash": CHAIN}
        elif parts[:2] == [CHAIN, "public"] and int(parts[2]) <= self.latest:
            body = public(int(parts[2]))
        else:
            self.send_error(404)
            return
        answer_json(self, body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def drand_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Drand)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_real_http_server_on_loopback(drand_server: str) -> None:
    rec = DrandBeacon(drand_server, CHAIN, now=lambda: at(500, 1)).fetch(500)
    assert rec == {"source": "beacon", "url": drand_server, "chain_hash": CHAIN, **public(500)}
    # the clock says round 501 is out, but the server has not published it yet
    with pytest.raises(EntropyUnavailable, match="waiting for beacon round 501.*HTTP 404"):
        DrandBeacon(drand_server, CHAIN, now=lambda: at(501, 1)).fetch(501)


def test_unreachable_server_on_loopback() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Drand)
    port = server.server_address[1]
    server.server_close()  # nothing listens there now
    with pytest.raises(EntropyUnavailable, match="unreachable"):
        DrandBeacon(f"http://127.0.0.1:{port}", CHAIN, timeout=2).fetch(1)


def test_witness_digits_and_commit_reveal() -> None:
    rec = WitnessDigits("12345678901234567890", ["张敏"]).record()
    assert rec["source"] == "witness-digits"
    with pytest.raises(EntropyInvalid, match="19 digits < 20"):
        WitnessDigits("1234567890123456789", ["张敏"]).record()
    with pytest.raises(EntropyInvalid, match="witnesses"):
        WitnessDigits("12345678901234567890", []).record()
    cr = CommitReveal("秘密-2026", "公告 2026-11-30")
    assert cr.record()["commitment"] == hashlib.sha256("秘密-2026".encode()).hexdigest()
    with pytest.raises(EntropyInvalid, match="does not match the commitment"):
        cr.record(commitment="ab" * 32)
    with pytest.raises(EntropyInvalid, match="unknown entropy source"):
        check_record({"source": "dice"})
    with pytest.raises(EntropyInvalid, match="fields must be exactly"):
        check_record({**rec, "extra": 1})
    with pytest.raises(EntropyInvalid, match="at least one"):
        check_records([])


def test_seed_is_sha256_of_the_documented_json() -> None:
    rec = WitnessDigits("12345678901234567890", ["张敏"]).record()
    args = {
        "round_key": "R1",
        "plan_hash": "aa",
        "frame_commitment": "bb",
        "inspector_commitment": "cc",
        "constraints_commitment": "dd",
        "entropy": [rec],
    }
    doc = ('{"constraints_commitment":"dd","entropy":[{"digits":"12345678901234567890",'
           '"source":"witness-digits","witnesses":["张敏"]}],"frame_commitment":"bb",'
           '"inspector_commitment":"cc","plan_hash":"aa","round_key":"R1","v":1}')  # fmt: skip
    assert derive_seed(**args) == hashlib.sha256(doc.encode()).digest()
    assert derive_seed(**{**args, "round_key": "R2"}) != derive_seed(**args)
