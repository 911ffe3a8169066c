"""Signed checkpoints, request signatures, the partner directory, the entropy record."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from draw.entropy import check_record
from draw.errors import EntropyInvalid
from exchange import httpsig
from exchange.directory import parse_directory
from exchange.errors import DirectoryError, NoteError, SignatureRejected
from exchange.keys import BureauKey, load_or_create
from exchange.notes import VerifierKey, format_checkpoint, parse_checkpoint, verifier_key

T = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
URL = "http://127.0.0.1:8310/exchange/v1/entries?start=0&end=3"


def _key(code: str = "310000") -> BureauKey:
    k = Ed25519PrivateKey.generate()
    return BureauKey(f"shuangsui.{code}", k, verifier_key(f"shuangsui.{code}", k))


def test_checkpoint_round_trip_and_forgeries() -> None:
    key, other = _key(), _key()
    note = format_checkpoint(key.origin, 5, b"\x11" * 32, T, key.private)
    root_b64 = "ERERERERERERERERERERERERERERERERERERERERERE="
    assert note.splitlines()[:4] == [key.origin, "5", root_b64, "time 2026-12-01T09:00:00Z"]
    cp = parse_checkpoint(note, [key.public], key.origin)
    assert (cp.size, cp.root, cp.time, cp.key_id) == (5, b"\x11" * 32, T, key.public.key_id)
    assert VerifierKey.parse(key.public.text) == key.public
    with pytest.raises(NoteError, match="no signature by a known key"):
        parse_checkpoint(note, [other.public], key.origin)
    with pytest.raises(NoteError, match="bad signature"):
        parse_checkpoint(note.replace("\n5\n", "\n6\n"), [key.public], key.origin)
    forged = format_checkpoint(key.origin, 5, b"\x11" * 32, T, other.private)
    with pytest.raises(NoteError):
        parse_checkpoint(forged, [key.public], key.origin)


def test_partner_checkpoint_entropy_record() -> None:
    key = _key()
    note = format_checkpoint(key.origin, 5, b"\x11" * 32, T, key.private)
    rec = {"source": "partner-checkpoints", "after": "2026-12-01T08:59:59Z",
           "checkpoints": [{"partner": "310000", "key_id": key.public.key_id,
                            "vkey": key.public.text, "checkpoint": note}]}  # fmt: skip
    check_record(rec)
    with pytest.raises(EntropyInvalid, match="not issued after"):
        check_record(rec | {"after": "2026-12-01T09:00:00Z"})
    bad = dict(rec["checkpoints"][0], checkpoint=note.replace("\n5\n", "\n6\n"))
    with pytest.raises(EntropyInvalid, match="does not verify"):
        check_record(rec | {"checkpoints": [bad]})


def _store() -> tuple[set, object]:
    seen: set = set()

    def store(kid: str, nonce: str, _exp: dt.datetime) -> bool:
        if (kid, nonce) in seen:
            return False
        seen.add((kid, nonce))
        return True

    return seen, store


def test_request_signatures() -> None:
    key = _key("350000")
    keys = {key.public.http_key_id: key.public}
    _, store = _store()
    headers = httpsig.sign_request(key, "GET", URL)
    v = httpsig.verify_request("GET", URL, headers.items(), b"", keys=keys, nonce_store=store)
    assert v.key == key.public
    with pytest.raises(SignatureRejected, match="replayed"):
        httpsig.verify_request("GET", URL, headers.items(), b"", keys=keys, nonce_store=store)
    fresh = httpsig.sign_request(key, "GET", URL)
    with pytest.raises(SignatureRejected):  # another target
        httpsig.verify_request("GET", URL + "0", fresh.items(), b"", keys=keys, nonce_store=store)
    with pytest.raises(SignatureRejected, match="Content-Digest"):
        httpsig.verify_request("GET", URL, fresh.items(), b"x", keys=keys, nonce_store=store)
    old = httpsig.sign_request(key, "GET", URL, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    with pytest.raises(SignatureRejected, match="expires|age"):
        httpsig.verify_request("GET", URL, old.items(), b"", keys=keys, nonce_store=store)
    forged = httpsig.sign_request(_key("350000"), "GET", URL)
    with pytest.raises(SignatureRejected):
        httpsig.verify_request("GET", URL, forged.items(), b"", keys=keys, nonce_store=store)


def test_directory_errors_name_file_and_field(tmp_path: Path) -> None:
    key = _key()
    path = tmp_path / "partners.toml"
    good = f"""
[[partner]]
code = "310000"
name = "上海市认证执法局"
division = "310000"
base_url = "http://127.0.0.1:8310/"
keys = ["{key.public.text}"]
[partner.check_items]
"SH-CCC" = "CCC-01"
"""
    partners = parse_directory(good, path).partners
    assert partners["310000"].base_url == "http://127.0.0.1:8310"
    assert partners["310000"].our_check_item("SH-CCC") == "CCC-01"
    for bad, entry_field in (
        (good.replace('division = "310000"', 'division = "31"'), "division"),
        (good.replace('code = "310000"', 'code = "330000"'), "keys[0]"),
        (good.replace("http://127", "ftp://127"), "base_url"),
    ):
        read = parse_directory(bad, path)
        assert read.partners == {}
        assert [d.field for d in read.disabled] == [entry_field]
    with pytest.raises(DirectoryError, match=r"partners.toml: not valid TOML"):
        parse_directory(good + "\n[[[", path)


def test_keys_made_once(tmp_path: Path) -> None:
    a = load_or_create(tmp_path / "keys", "350000")
    b = load_or_create(tmp_path / "keys", "350000")
    assert a.public == b.public and a.origin == "shuangsui.350000"
    assert (tmp_path / "keys" / "shuangsui.350000.ed25519.pem").stat().st_mode & 0o777 == 0o600
