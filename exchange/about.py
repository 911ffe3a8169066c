"""What a bureau's feed says of itself (``GET /exchange/v1/about``), signed; pure: no I/O.

docs/exchange-protocol.md, "What a feed says of itself"::

    {"statement": {"v": 1, "type": "exchange-about", "origin": "shuangsui.350000",
                   "versions": [1], "reads": ["assistance-answer", …, "round"],
                   "keeps-unknown-kinds": true, "at": "2026-12-06T10:00:00Z"},
     "signature": base64(Ed25519 of "shuangsui-exchange-about/v1\\n" || canonical(statement))}

Signed by the bureau's own key (the one its partners' directories list), since what it says
decides what its partners write: a forged "keeps unknown kinds" would have a partner write an
entry that stops this bureau's syncs for good. ``at`` is when it was signed (each answer is
signed afresh), and a reader takes it only within the signature age of its own clock, so an
old answer replayed after a bureau went back to an older shuangsui says nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from draw.canonical import canonical_json
from exchange.entries import AT, KIND_TOKEN, iso
from exchange.notes import VerifierKey

DOMAIN = b"shuangsui-exchange-about/v1\n"
TYPE = "exchange-about"
KEEPS = "keeps-unknown-kinds"
NEEDED = ("v", "type", "origin", "versions", "reads", KEEPS, "at")
MOST_KINDS = 256  # kinds a statement may list: far more than a version will ever have


class AboutRefused(ValueError):
    """A statement not taken; the message names the field."""


@dataclass(frozen=True)
class About:
    """A partner's statement, verified: the kinds it reads, whether it keeps the others."""

    reads: tuple[str, ...]
    keeps_unknown_kinds: bool
    at: str  # when it was signed, YYYY-MM-DDTHH:MM:SSZ
    document: dict[str, Any]  # the signed statement and signature, as evidence


def statement(origin: str, reads: Sequence[str], now: dt.datetime) -> dict[str, Any]:
    """What this shuangsui says of itself: it reads ``reads`` and keeps every other kind."""
    return {"v": 1, "type": TYPE, "origin": origin, "versions": [1], "reads": sorted(reads),
            KEEPS: True, "at": iso(now)}  # fmt: skip


def sign(st: dict[str, Any], private: Ed25519PrivateKey) -> dict[str, Any]:
    sig = private.sign(DOMAIN + canonical_json(st))
    return {"statement": st, "signature": base64.b64encode(sig).decode()}


def check(doc: Any, keys: Sequence[VerifierKey], origin: str, now: dt.datetime,
          max_age: int) -> About:  # fmt: skip
    """The statement of ``doc`` if it is one of ``origin``, signed by one of ``keys``, at
    most ``max_age`` seconds from ``now``; AboutRefused naming the field otherwise. Fields
    a later version adds are signed with the rest and not read."""
    if not isinstance(doc, dict) or set(doc) != {"statement", "signature"}:
        raise AboutRefused("exactly statement and signature are needed")
    st = doc["statement"]
    if not isinstance(st, dict):
        raise AboutRefused("statement: a JSON object is needed")
    if missing := [k for k in NEEDED if k not in st]:
        raise AboutRefused(f"statement.{missing[0]}: missing")
    if st["v"] != 1 or st["type"] != TYPE:
        raise AboutRefused(f'statement: v 1 and type "{TYPE}" are needed')
    if st["origin"] != origin:
        raise AboutRefused(f"statement.origin: {str(st['origin'])[:40]!r} is not {origin!r}")
    if not isinstance(st["versions"], list) or 1 not in st["versions"]:
        raise AboutRefused("statement.versions: a list holding 1 is needed")
    reads = st["reads"]
    if (
        not isinstance(reads, list)
        or len(reads) > MOST_KINDS
        or not all(isinstance(k, str) and KIND_TOKEN.fullmatch(k) for k in reads)
    ):
        raise AboutRefused(f"statement.reads: a list of at most {MOST_KINDS} kinds (a-z, then "
                           "a-z, 0-9 or -, 31 characters at most) is needed")  # fmt: skip
    if not isinstance(st[KEEPS], bool):
        raise AboutRefused(f"statement.{KEEPS}: true or false is needed")
    _fresh(st["at"], now, max_age)
    _signed(st, doc["signature"], keys)
    return About(tuple(reads), st[KEEPS], st["at"], doc)


def _fresh(at: Any, now: dt.datetime, max_age: int) -> None:
    if not isinstance(at, str) or not AT.fullmatch(at):
        raise AboutRefused("statement.at: a time written YYYY-MM-DDTHH:MM:SSZ is needed")
    try:
        when = dt.datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise AboutRefused(f"statement.at: {at} is not a time") from None
    if abs((now - when).total_seconds()) > max_age:
        raise AboutRefused(f"statement.at: {at} is more than {max_age} s from our clock "
                           f"({iso(now)}); an answer is signed when it is sent")  # fmt: skip


def _signed(st: dict[str, Any], signature: Any, keys: Sequence[VerifierKey]) -> None:
    try:
        message = DOMAIN + canonical_json(st)
    except (TypeError, ValueError, RecursionError):
        raise AboutRefused("statement: not canonical JSON (a float, or a number too large)") \
            from None  # fmt: skip
    try:
        sig = base64.b64decode(signature, validate=True) if isinstance(signature, str) else b""
    except ValueError:
        sig = b""
    if len(sig) != 64:
        raise AboutRefused("signature: base64 of 64 bytes is needed")
    for key in keys:
        try:
            key.ed25519().verify(sig, message)
            return
        except InvalidSignature:
            continue
    raise AboutRefused("signature: not made by a key of the partner directory "
                       f"({', '.join(k.key_id for k in keys)})")  # fmt: skip
