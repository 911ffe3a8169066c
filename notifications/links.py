"""Submission links and their tokens. The findings API verifies tokens with this same code."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Protocol
from urllib.parse import quote

# the field a link's generation is hashed under (generation 1 and on; 0 hashes none)
GENERATION = "generation"


def _fields(*fields: str) -> bytes:
    out = bytearray()
    for f in fields:
        data = f.encode("utf-8")
        out += len(data).to_bytes(8, "big") + data
    return bytes(out)


class Tokens(Protocol):
    """The tokens of one round (:func:`assignment_tokens`)."""

    def __call__(self, credit_code: str, inspector_id: str, generation: int = 0) -> str: ...


def assignment_token(
    secret: str, round_key: str, credit_code: str, inspector_id: str, generation: int = 0
) -> str:
    """HMAC-SHA256 over the length-prefixed (8-byte big-endian) UTF-8 fields, as hex.

    ``generation``: the member's link to the check as a coordinator last replaced it
    (``notifications.generations``). Generation 0, never replaced, hashes the four fields
    ("shuangsui-assignment-v1", round, enterprise, inspector): every link sent before
    generations existed. Generation n >= 1 hashes two fields more, ``"generation"`` and n in
    decimal: its input is generation 0's followed by more bytes, so it is never generation
    0's, and two generations' inputs differ in their last field."""
    return assignment_tokens(secret, round_key)(credit_code, inspector_id, generation)


def assignment_tokens(secret: str, round_key: str) -> Tokens:
    """:func:`assignment_token` of one round, as a function of (credit_code, inspector_id,
    generation).

    The fields are length-prefixed one after the other, so the key and the round's own fields
    are hashed once and each token continues from a copy of that state: the same digest."""
    msg = _fields("shuangsui-assignment-v1", round_key)
    start = hmac.new(secret.encode("utf-8"), msg, hashlib.sha256)

    def token(credit_code: str, inspector_id: str, generation: int = 0) -> str:
        mac = start.copy()
        mac.update(_fields(credit_code, inspector_id))
        if generation:
            mac.update(_fields(GENERATION, str(generation)))
        return mac.hexdigest()

    return token


def verify_assignment_token(
    secret: str, round_key: str, credit_code: str, inspector_id: str, token: str,
    generation: int = 0,
) -> bool:  # fmt: skip
    """Whether ``token`` is this assignment's (of ``generation``); any text is safe (bytes are
    compared)."""
    expected = assignment_token(secret, round_key, credit_code, inspector_id, generation)
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
    return submission_links(public_base_url, round_key)(credit_code, token)


def submission_links(public_base_url: str, round_key: str) -> Callable[[str, str], str]:
    """:func:`submission_link` of one round, as a function of (credit_code, token)."""
    start = f"{public_base_url.rstrip('/')}/w/open/{quote(round_key, safe='')}/"

    def link(credit_code: str, token: str) -> str:
        return f"{start}{quote(credit_code, safe='')}?token={token}"

    return link


def holds_link(payload: dict, token: str) -> bool:
    """Whether a message's payload holds the link of ``token`` (its ``link`` ends with it)."""
    return str(payload.get("link") or "").endswith(f"token={token}")


def reissue_subject(credit_code: str, token: str, reason: str) -> str:
    """What a 检查链接重新发送 is keyed by besides its round, kind and recipient: the check,
    and the sha256 of the link's token and the reason given (length-prefixed). The same link
    given again for the same reason is one message; a key rotated since (another token), or
    another reason, makes another. The token is in no key: only this digest of it."""
    return f"{credit_code}|{hashlib.sha256(_fields(token, reason)).hexdigest()}"


def idempotency_key(round_key: str, kind: str, recipient: str, subject_key: str) -> str:
    """sha256 of the length-prefixed fields: one message per (round, kind, recipient, subject)."""
    return idempotency_keys(round_key, kind)(recipient, subject_key)


def idempotency_keys(round_key: str, kind: str) -> Callable[[str, str], str]:
    """:func:`idempotency_key` of one round and kind, as a function of (recipient, subject_key):
    the round and kind are hashed once, each key continues from a copy (the same digest)."""
    start = hashlib.sha256(_fields(round_key, kind))

    def key(recipient: str, subject_key: str) -> str:
        digest = start.copy()
        digest.update(_fields(recipient, subject_key))
        return digest.hexdigest()

    return key
