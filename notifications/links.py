"""Submission links and their tokens. The findings API verifies tokens with this same code."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote


def _fields(*fields: str) -> bytes:
    out = bytearray()
    for f in fields:
        data = f.encode("utf-8")
        out += len(data).to_bytes(8, "big") + data
    return bytes(out)


def assignment_token(secret: str, round_key: str, credit_code: str, inspector_id: str) -> str:
    """HMAC-SHA256 over the length-prefixed (8-byte big-endian) UTF-8 fields, as hex."""
    msg = _fields("shuangsui-assignment-v1", round_key, credit_code, inspector_id)
    return hmac.new(secret.encode("utf-8"), msg, hashlib.sha256).hexdigest()


def verify_assignment_token(
    secret: str, round_key: str, credit_code: str, inspector_id: str, token: str
) -> bool:
    """Whether ``token`` is this assignment's; any text is safe (bytes are compared)."""
    expected = assignment_token(secret, round_key, credit_code, inspector_id)
    return hmac.compare_digest(expected.encode("ascii"), token.encode("utf-8", "surrogateescape"))


def submission_link(
    public_base_url: str,
    secret: str,
    round_key: str,
    credit_code: str,
    inspector_id: str,
    token: str | None = None,
) -> str:
    """The inspector's own link: the workspace page, which exchanges ``token`` for a session
    (the JSON API at ``/findings/...`` takes the same token); ``token`` when already computed."""
    token = token or assignment_token(secret, round_key, credit_code, inspector_id)
    base = public_base_url.rstrip("/")
    return f"{base}/w/open/{quote(round_key, safe='')}/{quote(credit_code, safe='')}?token={token}"


def idempotency_key(round_key: str, kind: str, recipient: str, subject_key: str) -> str:
    """sha256 of the length-prefixed fields: one message per (round, kind, recipient, subject)."""
    return hashlib.sha256(_fields(round_key, kind, recipient, subject_key)).hexdigest()
