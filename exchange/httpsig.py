"""HTTP Message Signatures (RFC 9421) between bureaus, Ed25519 keys of the partner directory.

Every request carries ``Content-Digest`` (RFC 9530, SHA-256 of the body, empty included) and
one signature labelled ``partner`` with tag ``shuangsui-exchange`` covering ``@method``,
``@target-uri`` and ``content-digest``, with ``created``, ``expires``, ``nonce`` and ``keyid``
(= ``<origin>+<key hash>``). ``http-message-signatures`` checks the signature, created/expires,
the label and coverage; the rest is here: the digest equals our own hash of the body,
``expires`` is after ``created`` and at most ``max_age`` later, the nonce is 16 to 128
characters of base64url, and a nonce is accepted once (``nonce_store``).

The ``url`` a server verifies is the one its partners were given (its configured public URL
plus the request's path and query), never one rebuilt from the Host header: a request
signed for another bureau does not verify here, so it cannot be replayed to us.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from exchange.errors import SignatureRejected
from exchange.keys import BureauKey
from exchange.notes import VerifierKey

TAG = "shuangsui-exchange"
LABEL = "partner"
COVERED = ("@method", "@target-uri", "content-digest")
NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")
# RFC 9421 §5.1: what a 401 asks for
ACCEPT_SIGNATURE = (
    f'{LABEL}=("@method" "@target-uri" "content-digest");created;expires;nonce;'
    f'tag="{TAG}";alg="ed25519"'
)


@dataclass
class _Message:
    method: str
    url: str
    headers: Any = field(default_factory=dict)


def content_digest(body: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


def sign_request(
    key: BureauKey, method: str, url: str, body: bytes = b"", *, lifetime: int = 60,
    now: dt.datetime | None = None, nonce: str | None = None,
) -> dict[str, str]:  # fmt: skip
    """The headers that authenticate one request (Content-Digest, Signature-Input, Signature)."""
    now = now or dt.datetime.now(dt.UTC)
    kid = key.public.http_key_id
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={kid: key.private}),
    )
    msg = _Message(method.upper(), url, {})
    signer.sign(  # adds Content-Digest of ``body`` and covers it
        msg, key_id=kid, created=now, expires=now + dt.timedelta(seconds=lifetime),
        nonce=nonce or secrets.token_urlsafe(18), label=LABEL, tag=TAG,
        covered_component_ids=COVERED[:2], body=body,
    )  # fmt: skip
    return dict(msg.headers)


@dataclass(frozen=True)
class Verified:
    key: VerifierKey
    nonce: str
    expires: dt.datetime


class _Directory(MappingKeyResolver):
    """The partners' keys: a keyid none of them has is refused naming it (the library said
    "Unable to resolve verification key", alike for a stranger, a revoked partner and a
    partner using a key its entry no longer lists)."""

    def resolve_public_key(self, key_id: str) -> Any:
        key = super().resolve_public_key(key_id)
        if key is None:
            raise InvalidSignature(
                f"keyid {key_id[:100]!r} is not a key of a partner in the server's directory "
                "(unknown to it, or removed or revoked there)"
            )
        return key


class _Verifier(HTTPMessageVerifier):
    """Says, of a signature refused for its time, its times and the server's clock: a
    partner whose clock is off was told only that ``created`` is "in the future"."""

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        try:
            super().validate_created_and_expires(sig_input, max_age=max_age)
        except InvalidSignature as exc:
            said = _times(sig_input.params, max_age)
            raise InvalidSignature(said or str(exc)) from None


def _times(params: Any, max_age: dt.timedelta | None) -> str | None:
    """Why ``created`` and ``expires`` are refused, with the server's clock; None when they
    are not times (the library's words stand)."""
    created, expires = params.get("created"), params.get("expires")
    ints = [t for t in (created, expires) if t is not None]
    if not all(type(t) is int and 0 <= t < YEAR_10000 for t in ints) or created is None:
        return None
    now, skew = int(dt.datetime.now(dt.UTC).timestamp()), HTTPMessageVerifier.max_clock_skew
    clock = f"the server's clock ({_at(now)})"
    check = "check the clocks of both bureaus"
    if created > now + skew.total_seconds():
        return f"created {_at(created)}, {created - now} s after {clock}: {check}"
    if expires is not None and expires < now - skew.total_seconds():
        return (f"expires {_at(expires)}, {now - expires} s before {clock}: send it again, "
                f"signed afresh; if it was, {check}")  # fmt: skip
    if max_age is not None:
        return (f"created {_at(created)}, {now - created} s before {clock}, more than the "
                f"{int(max_age.total_seconds())} s a signature is taken: send it again, signed "
                f"afresh; if it was, {check}")  # fmt: skip
    return None


YEAR_10000 = 253_402_300_800  # POSIX seconds of 10000-01-01: a time a datetime writes


def _at(seconds: int) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def verify_request(
    method: str,
    url: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    *,
    keys: dict[str, VerifierKey],
    nonce_store: Callable[[str, str, dt.datetime], bool],
    max_age: int = 300,
) -> Verified:
    """Check one request; ``keys`` maps HTTP keyids to partner keys; ``nonce_store(keyid,
    nonce, expires)`` records a nonce and returns False if it was already there."""
    pairs = list(headers)
    digests = [v for k, v in pairs if k.lower() == "content-digest"]
    if digests != [content_digest(body)]:
        raise SignatureRejected("Content-Digest missing or not the SHA-256 of the body")
    resolver = _Directory(public_keys={kid: k.ed25519() for kid, k in keys.items()},
                          private_keys={})  # fmt: skip
    verifier = _Verifier(signature_algorithm=algorithms.ED25519, key_resolver=resolver)
    msg = _Message(method.upper(), url, _Fields(pairs))
    try:
        (result,) = verifier.verify(
            msg, max_age=dt.timedelta(seconds=max_age), expect_tag=TAG, expect_label=LABEL,
            require_components=COVERED, body=body,
        )  # fmt: skip
    except (InvalidSignature, HTTPMessageSignaturesException, ValueError) as exc:
        why = str(exc) or f"it does not verify for {method.upper()} {url}"
        raise SignatureRejected(f"signature rejected: {why}") from None
    params = result.parameters
    kid, nonce, created, expires = (params.get(n) for n in ("keyid", "nonce", "created", "expires"))
    if not isinstance(nonce, str) or not NONCE.fullmatch(nonce):
        raise SignatureRejected("signature nonce: 16 to 128 characters of A-Z a-z 0-9 _ - needed")
    if not isinstance(expires, int) or not isinstance(created, int):
        raise SignatureRejected("signature needs both created and expires")
    if expires <= created:
        raise SignatureRejected("signature expires at or before it was created")
    if expires - created > max_age:
        raise SignatureRejected(f"signature lifetime {expires - created}s exceeds {max_age}s")
    exp = dt.datetime.fromtimestamp(expires, dt.UTC)
    if not nonce_store(str(kid), nonce, exp):
        raise SignatureRejected("replayed request: nonce already used")
    return Verified(keys[str(kid)], nonce, exp)


class _Fields:
    """Read-only header view keeping repeated field lines."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self._pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return self._pairs

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(dict.fromkeys(k for k, _ in self._pairs))

    def __contains__(self, name: object) -> bool:
        return any(k.lower() == str(name).lower() for k, _ in self._pairs)
