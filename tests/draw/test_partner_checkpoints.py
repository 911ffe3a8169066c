"""verify.py checks partner bureaus' signed checkpoints with the standard library alone, and
agrees with the cryptography-based check on every case."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from draw.entropy import check_record
from draw.errors import EntropyInvalid
from exchange.notes import format_checkpoint, verifier_key

from .vectors import load_reference

ref = load_reference()
AFTER = "2026-12-01T00:00:00Z"


def _record(private: Ed25519PrivateKey, origin: str, when: dt.datetime) -> dict:
    cp = format_checkpoint(origin, 42, hashlib.sha256(b"root").digest(), when, private)
    vkey = verifier_key(origin, private)
    return {
        "source": "partner-checkpoints",
        "after": AFTER,
        "checkpoints": [
            {"partner": "310000", "key_id": vkey.key_id, "vkey": vkey.text, "checkpoint": cp}
        ],
    }


def test_stdlib_ed25519_matches_cryptography() -> None:
    for n in range(8):
        key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(bytes([n])).digest())
        pub = key.public_key().public_bytes_raw()
        msg = f"message {n}".encode()
        sig = key.sign(msg)
        assert ref.ed25519_verify(pub, msg, sig)
        assert not ref.ed25519_verify(pub, msg + b"!", sig)
        bad = bytearray(sig)
        bad[n] ^= 1
        assert not ref.ed25519_verify(pub, msg, bytes(bad))


@pytest.mark.parametrize("case", ["good", "late", "early", "forged", "wrong-key"])
def test_both_checks_agree_on_partner_checkpoints(case: str) -> None:
    key = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    when = dt.datetime(2026, 12, 2, 3, 4, 5, tzinfo=dt.UTC)
    if case == "early":
        when = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    rec = _record(key, "shuangsui.310000", when)
    cp = rec["checkpoints"][0]
    if case == "forged":
        cp["checkpoint"] = cp["checkpoint"].replace("\n42\n", "\n43\n")
    if case == "wrong-key":
        other = verifier_key("shuangsui.310000", Ed25519PrivateKey.from_private_bytes(b"\x08" * 32))
        cp["vkey"], cp["key_id"] = other.text, other.key_id
    if case == "late":
        rec["after"] = "2026-12-01T00:00:00Z"
    problem = ref.entropy_problem(rec)
    if case in ("good", "late"):
        check_record(rec)
        assert problem is None
    else:
        with pytest.raises(EntropyInvalid):
            check_record(rec)
        assert problem is not None and "310000" in problem
