"""The entry format of a bureau's log (pure). An entry is the canonical JSON (RFC 8785 subset,
``draw.canonical``) of::

    {"v": 1, "origin": "shuangsui.350000", "seq": 17, "id": "result/…", "kind": "result",
     "at": "2026-12-01T09:00:00Z", "supersedes": null, "body": {…}}

and those exact bytes are the Merkle leaf. Kinds and bodies:

* ``round``: plan_hash, check_item, period, frame_commitment, frame_merkle_root, entropy, seed,
  selection [credit codes], exclusions {credit_code: citation} (partner citations included);
* ``result``: credit_code, check_item, inspected_on, outcome, round_key, summary[, assistance];
* ``correction``: a full replacement result, ``supersedes`` = the result's id;
* ``retraction``: reason, ``supersedes`` = the id withdrawn (nothing is ever deleted);
* ``assistance-request``: request_id, to, credit_code, check_item, reason, window {start, end};
* ``assistance-answer``: request {origin, id, leaf_hash}, decision, reason, team, seed, checkpoint.

A partner's entry of a kind not in ``KINDS`` (one a newer shuangsui writes) is kept unread when
its envelope is well formed (``parse_entry``): docs/exchange-protocol.md, "Versions and unknown
entry kinds".
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import lru_cache
from typing import Any

from draw.canonical import canonical_json
from exchange.errors import LogContentRefused

KINDS = (
    "round",
    "result",
    "correction",
    "retraction",
    "assistance-request",
    "assistance-answer",
)
# What a kind may be, known or not: a lowercase token of at most 31 characters, so that
# ``UNREAD`` + it fits the 32 characters of the ``kind`` columns.
KIND_TOKEN = re.compile(r"[a-z][a-z0-9-]{0,30}")
# The ``partner_entry.kind`` of an entry kept unread: "?" + its kind (never a kind: no token
# starts so); a later shuangsui that knows the kind reads it then (``exchange.apply.reread``).
UNREAD = "?"
ENVELOPE = frozenset({"v", "origin", "seq", "id", "kind", "at", "supersedes", "body"})
AT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# never shared with a partner, at any depth of an entry
FORBIDDEN_KEYS = frozenset(
    {"email", "phone", "mobile", "contact", "contacts", "webhook_url", "address_private",
     "notes", "internal_notes", "internal", "name_of_inspector"}
)  # fmt: skip


def check_shareable(obj: Any, path: str = "body") -> None:
    """Refuse contacts and internal notes anywhere in an entry body (every key of every
    nested object; only objects and arrays are descended into, as only they hold keys)."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if key.lower() in FORBIDDEN_KEYS:
                raise LogContentRefused(f"{path}.{key}: never shared with partners")
            if isinstance(value, dict | list):
                check_shareable(value, f"{path}.{key}")
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            if isinstance(value, dict | list):
                check_shareable(value, f"{path}[{i}]")


@lru_cache(maxsize=64)  # a batch of entries shares one moment (exchange.log.append_many)
def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Body(str):
    """An entry's body already written as canonical JSON by code that knows its fields are
    text (``exchange.publish.result_body_json``): a publish shares one a result, and each
    made as a dict, walked by :func:`_plain` and encoded cost more than the entry's other
    work together. Its keys are fixed and none is never shared; its values are escaped by the
    same string encoder as ``canonical_json``'s."""

    __slots__ = ()


def make_entry(
    *,
    origin: str,
    seq: int,
    entry_id: str,
    kind: str,
    at: dt.datetime,
    body: dict[str, Any] | Body,
    supersedes: str | None = None,
) -> bytes:
    """The entry's canonical JSON bytes (:func:`entry_text`'s, encoded)."""
    return entry_text(origin, seq, entry_id, kind, at, body, supersedes).encode()


def entry_text(
    origin: str, seq: int, entry_id: str, kind: str, at: dt.datetime,
    body: dict[str, Any] | Body, supersedes: str | None,
) -> str:  # fmt: skip
    """The entry's canonical JSON, as text (the log keeps it so, and hashes its bytes: an
    append of 20,000 entries decoded each one's bytes again). One walk checks the document's
    values (the common case: plain values, no key never shared) and the C encoder writes its
    body, which the envelope's fields, in key order, then surround; a :class:`Body` is written
    as it is. Anything else goes to ``check_shareable`` and ``canonical_json``, which refuse it
    naming the key or value."""
    if kind not in KINDS:
        raise ValueError(f"unknown entry kind {kind!r}")
    # the wrapper's keys are ours, none of them never shared: its values and the body decide
    if _plain_wrapper(origin, seq, entry_id, supersedes) and (
        isinstance(body, Body) or _plain(body)
    ):
        text = body if isinstance(body, Body) else _ENCODER.encode(body)
        after = "null" if supersedes is None else _string(supersedes)
        return (
            f'{{"at":"{iso(at)}","body":{text},"id":{_string(entry_id)},"kind":"{kind}",'
            f'"origin":{_string(origin)},"seq":{seq},"supersedes":{after},"v":1}}'
        )
    if isinstance(body, Body):
        body = json.loads(body)
    doc = {"v": 1, "origin": origin, "seq": seq, "id": entry_id, "kind": kind, "at": iso(at),
           "supersedes": supersedes, "body": body}  # fmt: skip
    check_shareable(body)
    return canonical_json(doc).decode()


def _plain_wrapper(origin: Any, seq: Any, entry_id: Any, supersedes: Any) -> bool:
    """:func:`_plain` of the wrapper's values as they come (text, an integer, text or None),
    without a call for each."""
    return (
        isinstance(origin, str)
        and isinstance(entry_id, str)
        and (supersedes is None or isinstance(supersedes, str))
        and type(seq) is int  # (not a bool: the envelope writes it as a number)
        and -MAX_SAFE_INT <= seq <= MAX_SAFE_INT
    )


def _plain(obj: Any) -> bool:
    """Whether ``obj`` is what ``canonical_json`` takes as it is and holds no key that
    ``check_shareable`` refuses: str, bool, None, integers within +-(2**53 - 1), lists of
    those, and dicts with str keys of those. False for anything else, even if allowed (a
    tuple): the full checks decide then."""
    if isinstance(obj, str) or obj is None:
        return True
    if isinstance(obj, int):  # bool included
        return -MAX_SAFE_INT <= obj <= MAX_SAFE_INT
    if isinstance(obj, dict):
        for key, value in obj.items():  # a loop, not all(): this runs for every entry shared
            if not isinstance(key, str) or key.lower() in FORBIDDEN_KEYS:
                return False
            if type(value) is not str and not _plain(value):  # most values are text
                return False
        return True
    if isinstance(obj, list):
        return all(map(_plain, obj))
    return False


MAX_SAFE_INT = 2**53 - 1  # as draw.canonical: larger integers are not exact in JSON numbers


class _NotCanonical(ValueError):
    pass


def _no_float(text: str) -> Any:
    raise _NotCanonical(f"a float ({text}) is not allowed in canonical JSON")


def _safe_int(text: str) -> int:
    value = int(text)
    if abs(value) > MAX_SAFE_INT:
        raise _NotCanonical(f"integer {text} outside the I-JSON range +-(2**53 - 1)")
    return value


_DECODER = json.JSONDecoder(parse_float=_no_float, parse_int=_safe_int, parse_constant=_no_float)
# (what it encodes holds no cycle, parsed or walked by ``_plain`` first: it does not look for one)
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, check_circular=False
)
# a str's JSON string as the encoder writes it (its own C function, called without the encoder's
# method around it: a publish writes two a result)
_string = json.encoder.encode_basestring


# The characters version 1 of the protocol refuses in a partner's text: an entry's ``id`` and
# ``supersedes`` (``REFUSED_IN_ID``) and a joint commitment's frames (``REFUSED_IN_TEXT``: tab
# and line breaks are text there, as in a targeted unit's note): the C0 controls, DEL, the
# bidirectional controls, the zero-width characters and a byte order mark, as every shuangsui
# has refused them. Fixed by the protocol, not by what a bureau's own registry takes today
# (``shuangsui.text``): a registry refuses the line and paragraph separators (U+2028, U+2029)
# and the C1 controls (U+0080-U+009F) since 5ad083d, but an older shuangsui's registry, log and
# frames may hold them, and a receiver that refused them would stop that partner's sync at the
# entry for good (the log is a hash chain: nothing after it is taken), or refuse a commitment
# its other partners hold (held only with its frames, docs/draw-algorithm.md §13.3): a joint
# round one bureau draws and another fails. Where such text is shown to a person it is shown
# with U+FFFD (``joint.notify``: a teammate of another bureau in a notice).
_V1_INVISIBLE = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff"
REFUSED_IN_ID = re.compile(f"[\x00-\x1f\x7f{_V1_INVISIBLE}]")
REFUSED_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f{_V1_INVISIBLE}]")


def parse_entry(data: bytes, *, origin: str, seq: int) -> dict[str, Any]:
    """Parse leaf bytes from a partner: canonical, the right origin and sequence, a kind.

    Canonical as ``draw.canonical.canonical_json`` means it: JSON whose only numbers are
    integers within +-(2**53 - 1) (checked while parsing), re-encoded to the same bytes.
    A kind not in ``KINDS`` is taken, to be kept unread, only in an envelope of exactly the
    version 1 fields, ``at`` written as ours are, ``supersedes`` text or null and ``body`` an
    object (``_unknown_kind``); anything else names the field refused."""
    try:
        doc = _DECODER.decode(data.decode())
    except _NotCanonical as exc:
        raise ValueError(f"entry {seq}: {exc}") from None
    except ValueError:  # a JSONDecodeError or a UnicodeDecodeError
        raise ValueError(f"entry {seq}: not JSON") from None
    if not isinstance(doc, dict) or _encode(doc) != data:
        raise ValueError(f"entry {seq}: not canonical JSON")
    if doc.get("v") != 1 or doc.get("origin") != origin or doc.get("seq") != seq:
        raise ValueError(f"entry {seq}: wrong version, origin or sequence number")
    if doc.get("kind") not in KINDS:
        _unknown_kind(doc, seq)
    if not isinstance(doc.get("body"), dict):
        raise ValueError(f"entry {seq}: body: a JSON object is needed")
    if not isinstance(doc.get("id"), str) or not doc["id"]:
        raise ValueError(f"entry {seq}: no id")
    for key in ("id", "supersedes"):  # kept as columns: PostgreSQL cannot hold a NUL
        if isinstance(doc.get(key), str) and REFUSED_IN_ID.search(doc[key]):
            raise ValueError(f"entry {seq}: {key} holds a control or invisible character")
    return doc


def _unknown_kind(doc: dict[str, Any], seq: int) -> None:
    """Refuse an entry of a kind this shuangsui does not know unless its envelope is what a
    newer version 1 writer makes: ``kind`` a short token, the version 1 fields and no other,
    ``at`` and ``supersedes`` of their form. What is kept unread is bounded so."""
    kind = doc.get("kind")
    if not isinstance(kind, str) or not KIND_TOKEN.fullmatch(kind):
        raise ValueError(f"entry {seq}: kind: {str(kind)[:40]!r} is not a kind (a-z, then a-z, "
                         "0-9 or -, 31 characters at most)")  # fmt: skip
    if extra := sorted(doc.keys() - ENVELOPE):
        raise ValueError(f"entry {seq}: {extra[0][:40]!r}: not a field of a version 1 entry")
    if missing := sorted(ENVELOPE - doc.keys()):
        raise ValueError(f"entry {seq}: {missing[0]}: missing")
    if not isinstance(doc.get("at"), str) or not AT.fullmatch(doc["at"]):
        raise ValueError(f"entry {seq}: at: a time written YYYY-MM-DDTHH:MM:SSZ is needed")
    if not (doc.get("supersedes") is None or isinstance(doc["supersedes"], str)):
        raise ValueError(f"entry {seq}: supersedes: an entry id or null is needed")


def known(kind: str) -> bool:
    """Whether this shuangsui reads entries of ``kind`` (and applies them)."""
    return kind in KINDS


def unread_marks() -> list[str]:
    """The ``partner_entry.kind`` of entries kept unread that this shuangsui can read now."""
    return [UNREAD + kind for kind in KINDS]


def _encode(doc: dict[str, Any]) -> bytes:
    """``canonical_json``'s bytes for a document parsed as above (its values are already known
    to be canonical JSON values, so the walk that checks them is not repeated)."""
    return _ENCODER.encode(doc).encode()
