"""Witnessing in process: C2SP cosignature bytes, quorum, equivocation proofs and gossip."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session, select

from exchange import equivocation, log, witness
from exchange.cosign import cosign, cosigner_key_id, find_cosignatures, signed_message, split_note
from exchange.directory import read_directory
from exchange.errors import NoteError
from exchange.models import EquivocationProof, PartnerState
from exchange.notes import format_checkpoint, parse_checkpoint, verifier_key
from exchange.sync import sync_partner
from tests.exchange.bureaus import Bureau, make_bureau, publish, transport_of, write_directory

ROOT = Path(__file__).resolve().parents[2]
VERIFY = ROOT / "exchange" / "verify_exchange.py"
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_LINE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dl"
    "rDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)


def test_cosignature_bytes_follow_c2sp_tlog_cosignature() -> None:
    # the signed message, byte for byte as the spec's example ("Ed25519 signed message")
    assert signed_message(SPEC_BODY, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    # the spec's example line: key id[4] || u64 big-endian timestamp || signature[64]
    blob = base64.b64decode(SPEC_LINE.split(" ")[2])
    assert len(blob) == 76 and int.from_bytes(blob[4:12], "big") == 1679315147
    # ours: same layout, key id with the cosignature type 0x04, signature over that message
    private = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public = verifier_key("shuangsui.350000", private)
    line = cosign(SPEC_BODY, "shuangsui.350000", private, 1679315147)
    name, b64 = line.removeprefix("\u2014 ").split(" ")
    ours = base64.b64decode(b64)
    want_id = hashlib.sha256(b"shuangsui.350000\n\x04" + public.public).digest()[:4]
    assert name == "shuangsui.350000" and ours[:4] == want_id == cosigner_key_id(
        name, public.public
    )
    assert ours[4:12] == (1679315147).to_bytes(8, "big") and len(ours) == 76
    public.ed25519().verify(ours[12:], signed_message(SPEC_BODY, 1679315147))
    assert ours[:4].hex() != public.key_id  # not the note-signature key id (0x01)
    # found by the key, ignored for another, a tampered one is an error
    (c,) = find_cosignatures(SPEC_BODY, [SPEC_LINE, line], [public])
    assert (c.witness, c.timestamp) == ("shuangsui.350000", 1679315147)
    other = verifier_key("shuangsui.310000", Ed25519PrivateKey.generate())
    assert find_cosignatures(SPEC_BODY, [line], [other]) == []
    with pytest.raises(NoteError, match="bad cosignature"):
        find_cosignatures(SPEC_BODY.replace("20852163", "20852164"), [line], [public])
    # a checkpoint signature (0x01) by the same key is not a cosignature
    note = format_checkpoint("shuangsui.350000", 1, b"\0" * 32, dt.datetime(2026, 12, 1), private)
    body, lines = split_note(note)
    assert find_cosignatures(body, lines, [public]) == []


class Router(httpx.BaseTransport):
    def __init__(self, bureaus: list[Bureau]):
        self.by_host = {httpx.URL(b.base_url).host: transport_of(b) for b in bureaus}
        self.swap: dict[str, str] = {}  # checkpoint text -> what to answer instead

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = self.by_host[request.url.host].handle_request(request)
        if request.url.path.endswith("/checkpoint") and self.swap:
            body = resp.read().decode()
            return httpx.Response(200, content=self.swap.get(body, body).encode())
        return resp


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Three bureaus in process (SQLite); Shanghai and Zhejiang ask a quorum of 2 witnesses."""
    monkeypatch.setenv("SHUANGSUI_EXCHANGE_CHECKPOINT_INTERVAL", "3600")
    b = {c: make_bureau(tmp_path, c) for c in ("350000", "310000", "330000")}
    for c, x in b.items():
        x.base_url = f"http://b{c}.test"
    for c, x in b.items():
        path = x.home / "partners.toml"
        write_directory(path, [o for o in b.values() if o is not x])
        if c != "350000":
            path.write_text("witness_quorum = 2\n" + path.read_text())
    router = Router(list(b.values()))
    yield b, router
    for x in b.values():
        x.engine.dispose()


def _sync(b: dict[str, Bureau], router: Router, who: str, partner: str):  # type: ignore[no-untyped-def]
    me = b[who]
    directory = read_directory(me.home / "partners.toml")
    return sync_partner(me.engine, directory.partners[partner], key=me.key, transport=router,
                        directory=directory)  # fmt: skip


def test_quorum_gates_applying_and_cosignatures_reach_the_checkpoint(world) -> None:  # type: ignore[no-untyped-def]
    b, router = world
    for i in range(3):
        publish(b["350000"], f"91350100MA{i:07d}X", n=i)
    # Shanghai alone has witnessed Fujian's checkpoint: 1 of 2, nothing applied
    out = _sync(b, router, "310000", "350000")
    assert out.status == "quorum" and out.applied == 0, out
    assert "checkpoint of shuangsui.350000 size 3 reached 1 of 2 cosignatures" in str(out.error)
    assert "not by: shuangsui.330000" in str(out.error)
    # Zhejiang witnesses it too; Shanghai learns so from Zhejiang's cosignatures
    assert _sync(b, router, "330000", "350000").status == "quorum"
    assert _sync(b, router, "310000", "330000").status == "ok"
    out = _sync(b, router, "310000", "350000")
    assert (out.status, out.after, out.applied) == ("ok", 3, 3), out
    # Fujian collects both cosignatures on its checkpoint and publishes them on it
    assert _sync(b, router, "350000", "310000").status == "ok"
    assert _sync(b, router, "350000", "330000").status == "ok"
    fj = b["350000"]
    cp = log.latest_checkpoint(fj.engine, key=fj.key, max_age=3600)
    with Session(fj.engine) as s:
        served = witness.on_our_checkpoint(s, fj.origin, cp.text)
    _body, lines = split_note(served)
    assert len(lines) == 3
    note = fj.home / "cp.txt"
    note.write_text(served, encoding="utf-8")
    args = [sys.executable, "-I", "-S", str(VERIFY), "checkpoint", str(note), "--log-key",
            fj.key.public.text, "--quorum", "2", "--witness", b["310000"].key.public.text,
            "--witness", b["330000"].key.public.text]  # fmt: skip
    ok = subprocess.run(args, capture_output=True, text=True)
    assert ok.returncode == 0 and "cosigned by 2 of 2" in ok.stdout, ok.stdout
    args[args.index("--quorum") + 1] = "3"
    short = subprocess.run(args, capture_output=True, text=True)
    assert short.returncode == 1 and "reached 2 of 3" in short.stdout


def test_equivocation_is_proven_gossiped_and_checked_offline(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    b, router = world
    fj = b["350000"]
    for i in range(2):
        publish(fj, f"91350100MA{i:07d}X", n=i)
    real = log.latest_checkpoint(fj.engine, key=fj.key, max_age=3600).text
    # Fujian shows Zhejiang another tree of the same size, signed with its own key
    fake = format_checkpoint(fj.origin, 2, hashlib.sha256(b"other").digest(),
                             dt.datetime.now(dt.UTC), fj.key.private)  # fmt: skip
    assert _sync(b, router, "310000", "350000").status == "quorum"
    router.swap = {real: fake}
    assert _sync(b, router, "330000", "350000").status == "quorum"  # cosigned the fake one
    router.swap = {}
    # Shanghai reads Zhejiang's cosigned checkpoints: the split view is caught
    assert _sync(b, router, "310000", "330000").status == "ok"
    out = _sync(b, router, "310000", "350000")
    assert out.status == "equivocated" and "EQUIVOCATED" in str(out.error), out
    with Session(b["310000"].engine) as s:
        (row,) = s.exec(select(EquivocationProof)).all()
        assert row.found_by == "shuangsui.310000" and row.received_from is None
        st = s.get(PartnerState, "350000")
        assert st is not None and st.flagged and st.size == 0
    proof = json.loads(row.proof)
    assert sorted(proof["statement"]["checkpoints"]) == proof["statement"]["checkpoints"]
    assert {parse_checkpoint(n, [fj.key.public], fj.origin).size
            for n in proof["statement"]["checkpoints"]} == {2}  # fmt: skip
    # gossip: Zhejiang pulls Shanghai's proof and stands with it
    _sync(b, router, "330000", "310000")
    with Session(b["330000"].engine) as s:
        (got,) = s.exec(select(EquivocationProof)).all()
        assert got.received_from == "shuangsui.310000" and got.digest == row.digest
    assert _sync(b, router, "330000", "350000").status == "equivocated"
    # offline, standard library only, from Fujian's public key
    path = tmp_path / "proof.json"
    path.write_text(row.proof, encoding="utf-8")
    cmd = [sys.executable, "-I", "-S", str(VERIFY), "equivocation", str(path),
           "--origin-key", fj.key.public.text]  # fmt: skip
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert (
        ok.returncode == 0 and "OK: shuangsui.350000 signed two checkpoints of size 2" in ok.stdout
    )
    assert equivocation.check(proof, fj.key.public)["size"] == 2
    with Session(b["350000"].engine) as s:  # gossip is kept only under the origin's known key
        assert not equivocation.receive(s, proof, {fj.origin: (b["330000"].key.public,)}, "x")
        assert not equivocation.receive(s, proof, {}, "x")
        assert equivocation.receive(s, proof, {fj.origin: (fj.key.public,)}, "x")
    # a proof that does not hold is refused: a changed root, another origin key
    bad = json.loads(row.proof)
    bad["statement"]["checkpoints"][0] = real.replace("\n2\n", "\n3\n")
    path.write_text(json.dumps(bad), encoding="utf-8")
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 1 and "does not verify" in res.stdout, res.stdout
    path.write_text(row.proof, encoding="utf-8")
    cmd[-1] = b["330000"].key.public.text
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 1 and "not the one given" in res.stdout


def test_a_malformed_proof_fails_with_a_reason_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "proof.json"
    for doc in ('{"statement": {"checkpoints": 5}, "signature": 1}', "[]", "not json"):
        path.write_text(doc, encoding="utf-8")
        res = subprocess.run([sys.executable, "-I", "-S", str(VERIFY), "equivocation", str(path)],
                             capture_output=True, text=True)  # fmt: skip
        assert res.returncode == 1 and res.stdout.startswith("FAIL: ") and not res.stderr


def test_witness_quorum_must_be_a_whole_number(tmp_path: Path) -> None:
    from exchange.errors import DirectoryError

    path = tmp_path / "partners.toml"
    for bad in ("-1", '"2"', "1.5", "true"):
        path.write_text(f"witness_quorum = {bad}\n", encoding="utf-8")
        with pytest.raises(DirectoryError, match="witness_quorum"):
            read_directory(path)
    path.write_text("witness_quorum = 2\n", encoding="utf-8")
    assert read_directory(path).witness_quorum == 2
