"""Equivocation: one origin, two validly signed checkpoints of one size, different roots.

Every partner checkpoint we see (our own sync, a partner's cosigned checkpoints) is kept in
``seen_checkpoint``; a second of the same size with another root becomes a proof object
(canonical JSON, docs/exchange-protocol.md "Equivocation proofs")::

    {"statement": {"v": 1, "type": "equivocation", "origin", "origin_key", "size",
                   "checkpoints": [note, note] (sorted), "sources": [where each was seen],
                   "found_by", "finder_key", "found_at"},
     "signature": base64(Ed25519 of "shuangsui-equivocation/v1\\n" || canonical(statement))}

The two origin signatures alone prove it; the finder's signature says who found it. Proofs are
stored, served (``GET /exchange/v1/equivocations``), pulled from every partner we sync, and
checked offline by ``exchange/verify_exchange.py`` (standard library only), one file each as
:func:`write_proofs` writes them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from draw.canonical import canonical_json
from exchange.cosign import split_note
from exchange.entries import iso
from exchange.errors import NoteError
from exchange.keys import BureauKey
from exchange.models import EquivocationProof, SeenCheckpoint
from exchange.notes import Checkpoint, VerifierKey, parse_checkpoint
from shuangsui.files import remove_leftovers, write_atomic, writer_lock
from shuangsui.paths import child

logger = logging.getLogger(__name__)
DOMAIN = b"shuangsui-equivocation/v1\n"


def build(origin_key: VerifierKey, seen: list[tuple[str, str]], finder: BureauKey,
          now: dt.datetime) -> dict[str, Any]:  # fmt: skip
    """The signed proof from two (origin-signed note, where seen) of one size."""
    pairs = sorted(seen)
    size = int(pairs[0][0].split("\n")[1])
    statement = {
        "v": 1, "type": "equivocation", "origin": origin_key.name, "origin_key": origin_key.text,
        "size": size, "checkpoints": [n for n, _ in pairs], "sources": [s for _, s in pairs],
        "found_by": finder.origin, "finder_key": finder.public.text, "found_at": iso(now),
    }  # fmt: skip
    sig = finder.private.sign(DOMAIN + canonical_json(statement))
    return {"statement": statement, "signature": base64.b64encode(sig).decode()}


def check(proof: Any, origin_key: VerifierKey | None = None) -> dict[str, Any]:
    """The statement of a valid proof (NoteError otherwise): both checkpoints signed by the
    origin's key (``origin_key`` when given, else the one the proof names), one size, two
    roots, and the finder's signature."""
    if not isinstance(proof, dict) or set(proof) != {"statement", "signature"}:
        raise NoteError("an equivocation proof is {statement, signature}")
    st = proof["statement"]
    want = {"v", "type", "origin", "origin_key", "size", "checkpoints", "sources", "found_by",
            "finder_key", "found_at"}  # fmt: skip
    if not isinstance(st, dict) or set(st) != want or st["type"] != "equivocation":
        raise NoteError("statement: fields must be exactly " + ", ".join(sorted(want)))
    if type(st["v"]) is not int or st["v"] != 1:  # JSON's true is not 1 (Python's 1 == True)
        raise NoteError(f"statement.v: 1 is needed, not {json.dumps(st['v'])[:40]}")
    if type(st["size"]) is not int:  # an integer column: true failed its insert (PostgreSQL)
        raise NoteError(f"statement.size: an integer is needed, not {json.dumps(st['size'])[:40]}")
    key = VerifierKey.parse(str(st["origin_key"]))
    if origin_key is not None and key != origin_key:
        raise NoteError(f"the proof names key {key.text}, not {origin_key.text}")
    notes = st["checkpoints"]
    if not isinstance(notes, list) or len(notes) != 2:
        raise NoteError("statement.checkpoints: exactly two signed notes")
    cps = [parse_checkpoint(str(n), [key], key.name) for n in notes]
    if cps[0].size != cps[1].size or cps[0].size != st["size"]:
        raise NoteError("the two checkpoints are not both of the stated size")
    if cps[0].root == cps[1].root:
        raise NoteError("the two checkpoints have the same root: no equivocation")
    finder = VerifierKey.parse(str(st["finder_key"]))
    if finder.name != st["found_by"]:
        raise NoteError("statement.finder_key is not the key of found_by")
    try:
        finder.ed25519().verify(base64.b64decode(str(proof["signature"])),
                                DOMAIN + canonical_json(st))  # fmt: skip
    except (InvalidSignature, ValueError):
        raise NoteError("the finder's signature does not verify") from None
    return st


def _record(session: Session, proof: dict[str, Any], received_from: str | None) -> bool:
    data = canonical_json(proof)
    digest = hashlib.sha256(data).hexdigest()
    if session.execute(
        select(col(EquivocationProof.id)).where(col(EquivocationProof.digest) == digest)
    ).first():
        return False
    st = proof["statement"]
    session.add(EquivocationProof(
        origin=st["origin"], size=st["size"], found_by=st["found_by"],
        received_from=received_from, digest=digest, proof=data.decode(),
        detected_at=dt.datetime.now(dt.UTC),
    ))  # fmt: skip
    session.flush()
    return True


def observe(session: Session, cp: Checkpoint, note: str, origin_key: VerifierKey, source: str,
            finder: BureauKey) -> dict[str, Any] | None:  # fmt: skip
    """Remember a validly signed checkpoint (``note``: origin signatures only); a proof, stored
    and returned, when another of the same size with another root was seen before."""
    rows = (
        session.exec(  # type: ignore[call-overload]
            select(SeenCheckpoint).where(
                col(SeenCheckpoint.origin) == cp.origin, col(SeenCheckpoint.size) == cp.size
            )
        )
        .scalars()
        .all()
    )
    if not any(r.root == cp.root.hex() for r in rows):
        session.add(SeenCheckpoint(origin=cp.origin, size=cp.size, root=cp.root.hex(),
                                   checkpoint=note, source=source,
                                   seen_at=dt.datetime.now(dt.UTC)))  # fmt: skip
        session.flush()
    other = next((r for r in rows if r.root != cp.root.hex()), None)
    if other is None:
        return None
    pair = {other.root, cp.root.hex()}
    for held in stored(session, cp.origin):
        if held["statement"]["size"] == cp.size and _roots(held) == pair:
            return held  # this split is already proven (by us or a partner)
    proof = build(origin_key, [(other.checkpoint, other.source), (note, source)], finder,
                  dt.datetime.now(dt.UTC))  # fmt: skip
    if _record(session, proof, None):
        logger.error("%s EQUIVOCATED: two checkpoints of size %d (%s; %s)", cp.origin, cp.size,
                     other.source, source)  # fmt: skip
    return proof


def receive(session: Session, proof: Any, origin_keys: dict[str, tuple[VerifierKey, ...]],
            sender: str) -> bool:  # fmt: skip
    """A proof gossiped by ``sender``: kept when it verifies under one of the origin's keys
    from OUR directory (a proof about a log we do not know is ignored)."""
    st = proof.get("statement") if isinstance(proof, dict) else None
    keys = origin_keys.get(str(st.get("origin"))) if isinstance(st, dict) else None
    if not keys:
        return False
    try:
        named = VerifierKey.parse(str(st.get("origin_key")))  # type: ignore[union-attr]
        if named not in keys:
            raise NoteError(f"{named.text} is not a key of {named.name} in our directory")
        check(proof, named)
    except (NoteError, ValueError, TypeError, KeyError) as exc:
        logger.warning("equivocation proof from %s refused: %s", sender, exc)
        return False
    return _record(session, proof, sender)


def _roots(proof: dict[str, Any]) -> set[str]:
    out = set()
    for note in proof["statement"]["checkpoints"]:
        root = split_note(note)[0].split("\n")[2]
        out.add(base64.b64decode(root).hex())
    return out


def stored(session: Session, origin: str | None = None) -> list[dict[str, Any]]:
    q = select(EquivocationProof).order_by(col(EquivocationProof.id))
    if origin:
        q = q.where(col(EquivocationProof.origin) == origin)
    rows = session.exec(q).scalars().all()  # type: ignore[call-overload]
    return [json.loads(r.proof) for r in rows]


def write_proofs(engine: Engine, out: Path, origin: str | None = None) -> list[Path]:
    """Write each stored proof (of ``origin``; default all) to ``out/<origin>-<size>-<n>.json``
    as canonical JSON, each file atomically; the paths. Two runs into one folder take turns
    (its writer lock), the second reading the proofs after the first has written."""
    with writer_lock(out):
        remove_leftovers(out)
        with Session(engine) as session:
            proofs = stored(session, origin)
        paths = []
        for n, proof in enumerate(proofs):
            st = proof["statement"]
            path = child(out, f"{st['origin']}-{st['size']}-{n}.json")  # names from a proof
            write_atomic(path, canonical_json(proof))
            paths.append(path)
    return paths


def summary(proof: dict[str, Any]) -> str:
    """One line for a coordinator: who, which size, the two roots, who found it."""
    st = proof["statement"]
    roots = [split_note(n)[0].split("\n")[2] for n in st["checkpoints"]]
    return (f"{st['origin']} signed two checkpoints of size {st['size']}: roots {roots[0]} "
            f"and {roots[1]} (found by {st['found_by']} at {st['found_at']})")  # fmt: skip
