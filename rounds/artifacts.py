"""A round's committed inputs, stored as canonical bytes (gzip'd) and read back verified.

A frame can hold millions of units: its lines are written into the compressor and read out of
it a piece at a time, hashed as they pass, so neither side holds the frame's text whole (the
units themselves are the memory a frame needs).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import LargeBinary, bindparam, func, select
from sqlmodel import Session

from draw import core
from draw.frame import (  # noqa: F401
    EnterpriseFrame,
    EnterpriseUnit,
    FrameBuilder,
    InspectorUnit,
    Rest,
    jsonl,
    jsonl_pieces,
    rest_of,
)
from rounds.models import Round, RoundArtifact
from shuangsui.errors import IntegrityError, NotFound

ARTIFACTS = ("plan.json", "frame-enterprises.jsonl", "frame-inspectors.jsonl", "constraints.json")
# version 2 rounds also keep their secret pseudonym key: {"key": hex} (never published)
PSEUDONYMS = "pseudonyms.json"


def artifact_names(version: int) -> tuple[str, ...]:
    return ARTIFACTS if version < 2 else (*ARTIFACTS, PSEUDONYMS)


def pack(data: bytes | Iterable[bytes]) -> tuple[str, bytes]:
    """SHA-256 of the bytes, and the bytes gzip'd (level 1: a million-row frame compresses in
    about a second, to roughly a fifth of its size). ``data`` may come in pieces: the bytes
    are those of the pieces joined, and the whole is never held."""
    pieces = [data] if isinstance(data, bytes) else data
    digest = hashlib.sha256()
    deflate = zlib.compressobj(1, zlib.DEFLATED, 31)  # wbits 31: a gzip member, mtime 0
    out = []
    for piece in pieces:
        digest.update(piece)
        out.append(deflate.compress(piece))
    out.append(deflate.flush())
    return digest.hexdigest(), b"".join(out)


def artifact(session: Session, round_key: str, name: str) -> bytes:
    return _checked(_stored(session, round_key, name))


# A stored artifact is read this many of its bytes at a time. PostgreSQL's driver holds a
# bytea's answer several times over while it turns it into bytes (its text, then the bytes):
# read whole, the 7.6 MiB of a 1,000,000-enterprise frame cost 46 MiB of peak memory, and the
# draw's peak was 222 MiB against SQLite's 189; in pieces of a MiB, 198 (docs/benchmarks.md).
PIECE = 1 << 20


@dataclass(frozen=True)
class Stored:
    """A stored artifact as read: the SHA-256 recorded with it and its gzip'd bytes, in pieces
    of at most :data:`PIECE` bytes (their concatenation is the stored value)."""

    round_key: str
    name: str
    sha256: str
    pieces: list[bytes]


def _stored(session: Session, round_key: str, name: str) -> Stored:
    table = RoundArtifact.__table__  # type: ignore[attr-defined]
    this = (table.c.round_key == round_key) & (table.c.name == name)
    found = session.execute(select(table.c.sha256, func.length(table.c.content)).where(this))
    row = found.one_or_none()
    if row is None:
        raise NotFound(f"round {round_key}: artifact {name} is missing")
    sha256, size = row
    piece = select(func.substr(table.c.content, bindparam("at"), PIECE, type_=LargeBinary))
    pieces = [
        bytes(session.execute(piece.where(this), {"at": at + 1}).scalar_one())  # 1-based
        for at in range(0, size, PIECE)
    ]  # fmt: skip
    return Stored(round_key, name, sha256, pieces)


def _checked(row: Stored) -> bytes:
    """A stored artifact's bytes, checked against the SHA-256 stored with it."""
    try:
        data = gzip.decompress(b"".join(row.pieces))
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise _damaged(row, exc) from None
    if hashlib.sha256(data).hexdigest() != row.sha256:
        raise _changed(row)
    return data


def _changed(row: Stored) -> IntegrityError:
    return IntegrityError(f"round {row.round_key}: stored {row.name} does not match its hash")


def _damaged(row: Stored, exc: Exception) -> IntegrityError:
    """Stored bytes that do not inflate (a changed byte fails gzip's own CRC, a cut one ends
    early): said as what they are, naming the round and the artifact, not gzip's traceback."""
    return IntegrityError(
        f"round {row.round_key}: stored {row.name} is damaged, its gzip does not inflate ({exc})"
    )


def _checked_lines(row: Stored, piece: int = 1 << 20) -> Iterator[bytes]:
    """The lines of a stored artifact, inflated at most ``piece`` bytes at a time (a frame's
    text compresses about fifteenfold: a megabyte of it inflated at once would be fifteen);
    after the last line its SHA-256 is checked against the one stored with it
    (:class:`IntegrityError`)."""
    inflate = zlib.decompressobj(31)

    def inflated() -> Iterator[bytes]:
        try:
            for stored in row.pieces:
                content = memoryview(stored)
                for i in range(0, len(content), piece):
                    yield inflate.decompress(content[i : i + piece], piece)
                    while inflate.unconsumed_tail:
                        yield inflate.decompress(inflate.unconsumed_tail, piece)
            yield inflate.flush()
        except zlib.error as exc:
            raise _damaged(row, exc) from None

    digest, rest = hashlib.sha256(), b""
    for data in inflated():
        digest.update(data)
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest
    if digest.hexdigest() != row.sha256:
        raise _changed(row)


def _parsed_frame(row: Stored) -> EnterpriseFrame:
    """The units of a stored enterprise frame, parsed as it is inflated. A stored frame that
    does not parse is read to its end before the error goes up: if its bytes were changed,
    that is what is named."""
    lines = _checked_lines(row)
    try:
        return enterprise_units(lines)
    except (ValueError, KeyError, TypeError):
        for _ in lines:
            pass
        raise


def load_inputs(
    session: Session, round_key: str, entropy: Sequence[Mapping[str, Any]] = ()
) -> core.DrawInputs:
    """The draw's inputs exactly as committed (each artifact checked against its SHA-256).

    The last round's inputs stay parsed in this process, by the stored bytes they were parsed
    and checked from: a second load of unchanged artifacts (the hooks of a draw) costs a hash
    of the compressed bytes, and any change to them parses and checks afresh."""
    rnd = session.get(Round, round_key)
    version = rnd.draw_version if rnd is not None else 1
    rows = {name: _stored(session, round_key, name) for name in artifact_names(version)}
    key = _cache_key(round_key, {name: (r.sha256, r.pieces) for name, r in rows.items()})
    cached = _parsed.get(key)
    if cached is None:
        frame = rows.pop(FRAME)
        blobs = {name: _checked(row) for name, row in rows.items()}  # the small ones, whole
        cached = _parse_inputs(round_key, blobs, _parsed_frame(frame))
        _parsed.clear()  # keep only the last round: frames can hold a million units
        _parsed[key] = cached
    return dataclasses.replace(cached, entropy=[dict(r) for r in entropy])


FRAME = "frame-enterprises.jsonl"

# The last round's inputs, by round key and artifact hashes. An entry made by commit_round in
# this process holds the very objects its commitments were computed from.
_parsed: dict[tuple[str, ...], core.DrawInputs] = {}
_fresh_from_commit: set[tuple[str, ...]] = set()


def _cache_key(
    round_key: str, stored: Mapping[str, tuple[str, Sequence[bytes]]]
) -> tuple[str, ...]:
    """The round and, per artifact, its recorded SHA-256 and a SHA-256 of its stored bytes
    (given in pieces)."""
    return (round_key, *(f"{sha}/{_digest(pieces)}" for sha, pieces in stored.values()))


def _digest(pieces: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for piece in pieces:
        digest.update(piece)
    return digest.hexdigest()


def is_fresh_from_commit(round_key: str) -> bool:
    """Whether the cached inputs of ``round_key`` are the objects its commitments were just
    computed from (in this process), so the draw need not recompute them."""
    return any(k[0] == round_key for k in _fresh_from_commit & set(_parsed))


def release(round_key: str) -> None:
    """Let go of ``round_key``'s parsed inputs, if they are the ones kept (a frame can hold ten
    million units); a later load reads and checks them again from the stored bytes."""
    for key in [k for k in _parsed if k[0] == round_key]:
        del _parsed[key]
        _fresh_from_commit.discard(key)


def remember_committed(
    round_key: str, packed: Mapping[str, tuple[str, bytes]], inputs: core.DrawInputs
) -> None:
    """Keep ``inputs`` as the round's parsed artifacts (``packed``: name -> (SHA-256 hex,
    stored bytes), as :func:`pack` gave them)."""
    _parsed.clear()
    _fresh_from_commit.clear()
    names = artifact_names(inputs.version)
    fresh = _cache_key(round_key, {n: (packed[n][0], [packed[n][1]]) for n in names})
    _parsed[fresh] = inputs
    _fresh_from_commit.add(fresh)


def _parse_inputs(
    round_key: str, blobs: Mapping[str, bytes], enterprises: EnterpriseFrame
) -> core.DrawInputs:
    loads = json.loads
    cons = loads(blobs["constraints.json"])
    key = bytes.fromhex(loads(blobs[PSEUDONYMS])["key"]) if PSEUDONYMS in blobs else b""
    return core.DrawInputs(
        round_key=round_key,
        plan=loads(blobs["plan.json"]),
        enterprises=enterprises,
        inspectors=[
            InspectorUnit.from_json(loads(line))
            for line in blobs["frame-inspectors.jsonl"].splitlines()
        ],
        conflicts=frozenset(tuple(p) for p in cons["conflicts"]),  # type: ignore[misc]
        recent_pairs=frozenset(tuple(p) for p in cons["recent_pairs"]),  # type: ignore[misc]
        version=2 if key else 1,
        pseudonym_key=key,
    )


def enterprise_units(lines: Iterable[bytes]) -> EnterpriseFrame:
    """The units of a stored enterprise frame, one per line, as a compact frame. What repeats
    down the frame (its divisions, classes, strata, statuses, notes and combinations of kinds)
    is parsed once per distinct rest: a unit costs its credit code and an index."""
    shared: dict[bytes, Rest] = {}  # the line without its code -> the unit's rest
    frame = FrameBuilder()
    for line in lines:
        head, _, tail = line.partition(b',"credit_code":"')
        code, quote, rest = tail.partition(b'",')
        if not quote or b"\\" in code or not rest.startswith(b'"division_code":'):
            unit = EnterpriseUnit.from_json(json.loads(line))  # a code JSON escapes
            frame.add(unit.credit_code, rest_of(unit))
            continue
        key = head + b"\n" + rest
        fields = shared.get(key)
        if fields is None:
            fields = shared[key] = rest_of(EnterpriseUnit.from_json(json.loads(line)))
        frame.add(code.decode(), fields)
    return frame.frame()
