"""The joint round protocol, pure (docs/draw-algorithm.md §13, docs/exchange-protocol.md
"Joint rounds"): signed statements, nonce commitments, the decision and the seed.

Every bureau signs two statements: a **commitment** (its frames' commitments and
``H(nonce)``) before any nonce is revealed, and a **reveal** (the nonce) once it holds every
participant's commitment. The seed exists only when every participant revealed a nonce that
opens its commitment; a missing reveal at the reveal deadline fails the round (rule
``withheld-fails``), it never gives a seed made of the other nonces.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from draw.canonical import canonical_json, lp, sha256_hex
from exchange.errors import NoteError
from exchange.notes import VerifierKey, verifier_key
from shuangsui.text import CONTROL, one_line

__all__ = [
    "CONTEXT",
    "Decision",
    "FIELD_TYPES",
    "JointError",
    "UnknownStatement",
    "decide",
    "field_fault",
    "finding_fault",
    "joint_seed",
    "nonce_commitment",
    "open_envelope",
    "sign_statement",
    "statement_hash",
    "team_seed",
    "unknown_type",
    "valid_reveal",
]

CONTEXT = b"shuangsui-joint-v1\n"  # prefixed to the canonical statement before signing
NONCE_DOMAIN = "shuangsui-joint-nonce"
TEAM_DOMAIN = b"shuangsui-joint-team"


class JointError(ValueError):
    """A statement or reveal that does not check (the message names what)."""


class UnknownStatement(JointError):
    """A statement of a type joint protocol version 1 does not have (a newer partner's: a
    withdrawal notice, an attestation): POSTed to us it is refused naming the type, relayed by
    a pull it is skipped (docs/exchange-protocol.md, "Joint rounds": "Statement types this
    bureau does not know"). Never held, never read by :func:`decide`."""

    def __init__(self, kind: str):
        super().__init__(
            f"statement type {kind!r}: this bureau's joint protocol (version 1) does not know it "
            f"(it knows {', '.join(TYPES)}); nothing of it is held"
        )
        self.kind = kind


def unknown_type(st: Mapping[str, Any]) -> UnknownStatement | None:
    """The refusal of a statement whose ``type`` is a string this protocol does not know (None
    for a known type, or a ``type`` that is no string: refused as malformed). Asked before the
    fields' JSON types: a newer type may use a field name of ours for another kind of value."""
    kind = st.get("type")
    if isinstance(kind, str) and kind not in TYPES:
        return UnknownStatement(_shown(kind))  # a partner's text: on one line, cut
    return None


def nonce_commitment(joint: str, bureau: str, nonce_hex: str) -> str:
    """hex SHA-256(lp("shuangsui-joint-nonce") || lp(joint) || lp(bureau) || nonce bytes)."""
    nonce = bytes.fromhex(nonce_hex)
    if len(nonce) != 32:
        raise JointError("nonce: 32 bytes (64 hex digits) needed")
    return hashlib.sha256(lp(NONCE_DOMAIN) + lp(joint) + lp(bureau) + nonce).hexdigest()


def statement_hash(statement: Mapping[str, Any]) -> str:
    return sha256_hex(canonical_json(dict(statement)))


def sign_statement(
    statement: Mapping[str, Any], origin: str, private: Ed25519PrivateKey
) -> dict[str, Any]:
    """The envelope ``{"statement", "vkey", "signature"}``: Ed25519 over CONTEXT || canonical
    JSON of the statement, base64."""
    sig = private.sign(CONTEXT + canonical_json(dict(statement)))
    return {
        "statement": dict(statement),
        "vkey": verifier_key(origin, private).text,
        "signature": base64.b64encode(sig).decode(),
    }


def open_envelope(envelope: Any, keys: Sequence[VerifierKey] | None = None) -> dict[str, Any]:
    """The statement of a signed envelope, after checking its shape, its type (one this
    protocol knows, else :class:`UnknownStatement`, before its fields are read), its fields'
    JSON types (:func:`field_fault`) and its signature. With ``keys``, the signing key must be
    one of them (a partner's directory keys). Every statement taken passes here first, POSTed to us
    (``joint.store.receive``) or relayed by a participant's answer to a pull (``joint.service``)."""
    if not isinstance(envelope, dict) or set(envelope) != {"statement", "vkey", "signature"}:
        raise JointError("envelope: exactly statement, vkey and signature needed")
    st = envelope["statement"]
    if not isinstance(st, dict):
        raise JointError("statement: a JSON object needed")
    unknown = unknown_type(st)
    if unknown:
        raise unknown
    fault = field_fault(st)
    if fault:
        raise JointError(f"{_named(st)}: {fault}")
    if st.get("v") != 1 or st.get("type") not in TYPES:  # a known type of another version
        raise JointError("statement: v 1 and a known type needed")
    missing = sorted(TYPES[st["type"]] - set(st))
    if missing:
        raise JointError(f"statement.{missing[0]}: required for a {st['type']}")
    try:
        vkey = VerifierKey.parse(str(envelope["vkey"]))
        sig = base64.b64decode(str(envelope["signature"]), validate=True)
        vkey.ed25519().verify(sig, CONTEXT + canonical_json(st))
    except (NoteError, ValueError, InvalidSignature, TypeError):
        raise JointError(f"{_named(st)}: bad signature") from None
    if vkey.name != f"shuangsui.{st.get('bureau')}":
        raise JointError(
            f"{st['type']}: signed by {vkey.name}, not by shuangsui.{_shown(st['bureau'])}"
        )
    if keys is not None and vkey.public not in {k.public for k in keys}:
        raise JointError(
            f"{_named(st)}: key {vkey.key_id} is not the partner's key of the directory"
        )
    return st


# the statements' fields of one JSON type, by name: the checks compare, hash and quote them as
# such (a list where a string belongs was a TypeError deep in them, a 500 for a statement POSTed
# and an unexplained refusal for one relayed by a pull); the other fields are the checks'
FIELD_TYPES: dict[str, type] = {
    "type": str, "joint": str, "joint_plan_hash": str, "bureau": str,
    "n": int, "credit_code": str, "position": int, "withdrawn": str, "replacement": str,
    "cause": str,
    # a commitment's (and the lead's frame's), and the commitment a reveal opens
    "nonce_commitment": str, "inspector_commitment": str, "inspector_root": str,
    "inspector_size": int, "constraints_commitment": str, "plan_hash": str,
    "frame_commitment": str, "frame_root": str, "frame_size": int, "commit": str,
}  # fmt: skip


def field_fault(st: Mapping[str, Any]) -> str | None:
    """``statement.<field>: ... is needed`` for the first field of :data:`FIELD_TYPES` present
    in ``st`` and not of its JSON type (None if none is): checked before anything reads them,
    for a statement POSTed (``joint.routes``) as for one relayed by a pull (``open_envelope``)."""
    for name, kind in FIELD_TYPES.items():
        value = st.get(name, kind())
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"statement.{name}: {'a string' if kind is str else 'an integer'} is needed"
    return None


def _named(st: Mapping[str, Any]) -> str:
    """The statement's kind and signer as far as they can be told, for a refusal's message: the
    signer as sent, on one line and cut (a partner's text in our line of the pull's notes)."""
    kind = st["type"] if isinstance(st.get("type"), str) and st["type"] in TYPES else "statement"
    bureau = st.get("bureau")
    if not isinstance(bureau, str):
        return str(kind)
    return f"{kind} of {_shown(bureau)}"


def _shown(bureau: str) -> str:
    """A bureau code (or a type) as a statement sent it, on one line, cut at 40 characters."""
    return CONTROL.sub("?", one_line(bureau))[:40]


COMMON = {"v", "type", "joint", "joint_plan_hash", "bureau"}
TYPES: dict[str, set[str]] = {
    "joint-commit": COMMON
    | {
        "nonce_commitment",
        "inspector_commitment",
        "inspector_root",
        "inspector_size",
        "constraints_commitment",
    },
    "joint-reveal": COMMON | {"commit", "nonce"},
    "joint-finding": COMMON | {"credit_code", "inspectors", "outcome", "inspected_on"},
    # a bureau's n-th replacement of one of its own members (§13.7, ``joint.replace``)
    "joint-replacement": COMMON
    | {"n", "credit_code", "position", "withdrawn", "replacement", "cause"},
}
LEAD_FIELDS = ("plan_hash", "frame_commitment", "frame_root", "frame_size")


def valid_reveal(commit: Mapping[str, Any], reveal: Mapping[str, Any]) -> str | None:
    """Why ``reveal`` does not open ``commit`` (None if it does)."""
    if reveal.get("commit") != statement_hash(commit):
        return "it names another commitment"
    try:
        opened = nonce_commitment(commit["joint"], commit["bureau"], str(reveal["nonce"]))
    except (ValueError, JointError):
        return "the nonce is not 64 hex digits"
    if opened != commit["nonce_commitment"]:
        return "H(nonce) differs from the signed nonce commitment"
    return None


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CODE_SHOWN = 18  # a credit code's length: a longer value sent is not echoed back


def finding_fault(
    teams: Mapping[str, Sequence[Sequence[str]]], st: Mapping[str, Any]
) -> str | None:
    """Why a ``joint-finding`` is not one the drawn round allows (None if it is): an
    enterprise the round selected, an outcome, a date, and as ``inspectors`` exactly the
    signer's members of that team as it stands (``teams``: the drawn outcome's with the
    replacements held applied, ``joint.replace.teams_as_they_stand``). Any other list names
    inspectors nobody drew, or a member a replacement took off the team (§13.7)."""
    code, bureau = st.get("credit_code"), st.get("bureau")
    team = teams.get(code) if isinstance(code, str) else None
    if team is None:
        shown = code if isinstance(code, str) and len(code) <= _CODE_SHOWN else "the value sent"
        return f"credit_code: {shown} is not selected in joint round {st.get('joint')}"
    outcome = st.get("outcome")
    if not isinstance(outcome, str) or not outcome.strip() or CONTROL.search(outcome):
        return "outcome: a non-empty text without control characters"
    day = st.get("inspected_on")
    try:
        if not (isinstance(day, str) and _DATE.fullmatch(day)):
            raise ValueError
        dt.date.fromisoformat(day)
    except ValueError:
        return "inspected_on: a date written YYYY-MM-DD"
    members = [i for b, i in team if b == bureau]
    if st.get("inspectors") != members:
        return (
            f"inspectors: not the members of {bureau} on the team of {code} as it stands "
            f"({', '.join(members)}): the draw's, and a replacement's only once signed by "
            f"{bureau} and held here"
        )
    return None


def joint_seed(
    plan_hash: str, joint: str, commits: Sequence[Mapping[str, Any]], nonces: Sequence[str]
) -> bytes:
    """SHA-256 of canonical JSON {"v":1, "type":"joint-seed", "joint", "joint_plan_hash",
    "commits": [statement hashes, participant order], "nonces": [hex, participant order]}."""
    doc = {
        "v": 1,
        "type": "joint-seed",
        "joint": joint,
        "joint_plan_hash": plan_hash,
        "commits": [statement_hash(c) for c in commits],
        "nonces": list(nonces),
    }
    return hashlib.sha256(canonical_json(doc)).digest()


def team_seed(seed: bytes, bureau: str) -> bytes:
    """The seed one bureau's inspectors are drawn with: SHA-256(lp(TEAM_DOMAIN) || seed ||
    lp(bureau))."""
    return hashlib.sha256(lp(TEAM_DOMAIN) + seed + lp(bureau)).digest()


@dataclass
class Decision:
    state: str  # "waiting-commitments" | "waiting-reveals" | "ready" | "failed"
    reason: str = ""  # failed: "equivocation" | "missing-commitment" | "withheld"
    bureaus: list[str] = field(default_factory=list)  # who is missing / equivocated / withheld
    commits: list[dict[str, Any]] = field(default_factory=list)  # participant order
    nonces: list[str] = field(default_factory=list)

    def failure(self) -> dict[str, Any]:
        return {"reason": self.reason, "bureaus": list(self.bureaus)}


def _late(now: dt.datetime, deadline: str) -> bool:
    return now > dt.datetime.fromisoformat(deadline.replace("Z", "+00:00"))


def decide(
    plan: Mapping[str, Any],
    commits: Mapping[str, Sequence[dict[str, Any]]],
    reveals: Mapping[str, Sequence[dict[str, Any]]],
    now: dt.datetime,
    announced: Collection[str] = (),
) -> Decision:
    """What the statements held at ``now`` decide (docs/draw-algorithm.md §13.3). ``commits``
    and ``reveals``: verified statements by bureau, for this joint round and plan;
    ``announced``: bureaus whose commitment is held without its frames alone (received while
    commitments were open, its frames to be pulled): waited for until the reveal deadline,
    then ``missing-commitment`` (frames that never come hold no round open)."""
    codes = [p["bureau"] for p in plan["participants"]]
    two = [b for b in codes if len({statement_hash(c) for c in commits.get(b, ())}) > 1]
    if two:
        return Decision("failed", "equivocation", two)
    missing = [b for b in codes if not commits.get(b)]
    if missing:
        frames_due = _late(now, plan["reveal_deadline"])
        never = [b for b in missing if b not in announced or frames_due]
        if never and _late(now, plan["commit_deadline"]):
            return Decision("failed", "missing-commitment", never)
        return Decision("waiting-commitments", bureaus=missing)
    chosen = [commits[b][0] for b in codes]
    nonces, withheld = [], []
    for b, c in zip(codes, chosen, strict=True):
        ok = [r["nonce"] for r in reveals.get(b, ()) if valid_reveal(c, r) is None]
        if ok:
            nonces.append(ok[0])
        else:
            withheld.append(b)
    if withheld:
        if _late(now, plan["reveal_deadline"]):
            return Decision("failed", "withheld", withheld, chosen)
        return Decision("waiting-reveals", bureaus=withheld, commits=chosen)
    return Decision("ready", commits=chosen, nonces=nonces)
