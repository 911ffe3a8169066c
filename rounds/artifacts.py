"""A round's committed inputs, stored as canonical bytes (gzip'd) and read back verified."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel import Session

from draw import core
from draw.frame import EnterpriseUnit, InspectorUnit
from rounds.models import Round, RoundArtifact
from shuangsui.errors import IntegrityError, NotFound

ARTIFACTS = ("plan.json", "frame-enterprises.jsonl", "frame-inspectors.jsonl", "constraints.json")
# version 2 rounds also keep their secret pseudonym key: {"key": hex} (never published)
PSEUDONYMS = "pseudonyms.json"


def artifact_names(version: int) -> tuple[str, ...]:
    return ARTIFACTS if version < 2 else (*ARTIFACTS, PSEUDONYMS)


def pack(data: bytes) -> tuple[str, bytes]:
    """SHA-256 of the bytes, and the bytes gzip'd (level 1: a million-row frame compresses in
    about a second, to roughly a fifth of its size)."""
    return hashlib.sha256(data).hexdigest(), gzip.compress(data, compresslevel=1, mtime=0)


_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def jsonl(units: Sequence[EnterpriseUnit] | Sequence[InspectorUnit]) -> bytes:
    """One canonical JSON object per line. Frame units hold only strings, integers, booleans
    and lists of them (no floats by construction), so plain ``json.dumps`` with canonical
    options gives the canonical bytes without a per-value check."""
    if units and all(isinstance(u, EnterpriseUnit) for u in units[:1]):
        return _enterprise_lines(units)  # type: ignore[arg-type]
    return "".join([_dumps(u.to_json()) + "\n" for u in units]).encode()


def _enterprise_lines(units: Sequence[EnterpriseUnit]) -> bytes:
    """The same bytes as ``_dumps(u.to_json())`` per unit (a test holds them equal), faster for
    a million rows: the keys sort as cert_kinds, credit_code, then the rest, and everything but
    the credit code repeats across rows, so the text around it is memoised per distinct rest."""
    around: dict[tuple[object, ...], tuple[str, str]] = {}
    lines = []
    for u in units:
        rest = (u.cert_kinds, u.division_code, u.note, u.risk_class, u.status, u.stratum)
        text = around.get(rest)
        if text is None:
            text = around[rest] = (
                f'{{"cert_kinds":{_dumps(list(u.cert_kinds))},"credit_code":',
                f',"division_code":{_dumps(u.division_code)},"note":{_dumps(u.note)},'
                f'"risk_class":{_dumps(u.risk_class)},"status":{_dumps(u.status)},'
                f'"stratum":{_dumps(u.stratum)}}}\n',
            )
        code = u.credit_code
        code_json = f'"{code}"' if code.isascii() and code.isalnum() else _dumps(code)
        lines.append(text[0] + code_json + text[1])
    return "".join(lines).encode()


def artifact(session: Session, round_key: str, name: str) -> bytes:
    return _checked_artifact(session, round_key, name)[0]


def _checked_artifact(session: Session, round_key: str, name: str) -> tuple[bytes, str]:
    """An artifact's bytes and their SHA-256 (hex), checked against the one stored with it."""
    row = session.get(RoundArtifact, (round_key, name))
    if row is None:
        raise NotFound(f"round {round_key}: artifact {name} is missing")
    data = gzip.decompress(row.content)
    digest = hashlib.sha256(data).hexdigest()
    if digest != row.sha256:
        raise IntegrityError(f"round {round_key}: stored {name} does not match its hash")
    return data, digest


def load_inputs(
    session: Session, round_key: str, entropy: Sequence[Mapping[str, Any]] = ()
) -> core.DrawInputs:
    """The draw's inputs exactly as committed (each artifact checked against its SHA-256)."""
    rnd = session.get(Round, round_key)
    version = rnd.draw_version if rnd is not None else 1
    checked = {
        name: _checked_artifact(session, round_key, name) for name in artifact_names(version)
    }
    blobs = {name: data for name, (data, _) in checked.items()}
    key = (round_key, *(digest for _, digest in checked.values()))
    cached = _parsed.get(key)
    if cached is None:
        cached = _parse_inputs(round_key, blobs)
        _parsed.clear()  # keep only the last round: frames can hold a million units
        _parsed[key] = cached
    return dataclasses.replace(cached, entropy=[dict(r) for r in entropy])


# The last round's inputs, by round key and artifact hashes. An entry made by commit_round in
# this process holds the very objects its commitments were computed from.
_parsed: dict[tuple[str, ...], core.DrawInputs] = {}
_fresh_from_commit: set[tuple[str, ...]] = set()


def is_fresh_from_commit(round_key: str) -> bool:
    """Whether the cached inputs of ``round_key`` are the objects its commitments were just
    computed from (in this process), so the draw need not recompute them."""
    return any(k[0] == round_key for k in _fresh_from_commit & set(_parsed))


def remember_committed(round_key: str, digests: Mapping[str, str], inputs: core.DrawInputs) -> None:
    """Keep ``inputs`` as the round's parsed artifacts (``digests``: name -> SHA-256 hex)."""
    _parsed.clear()
    _fresh_from_commit.clear()
    names = artifact_names(inputs.version)
    fresh = (round_key, *(digests[n] for n in names))
    _parsed[fresh] = inputs
    _fresh_from_commit.add(fresh)


def _parse_inputs(round_key: str, blobs: Mapping[str, bytes]) -> core.DrawInputs:
    loads = json.loads
    cons = loads(blobs["constraints.json"])
    key = bytes.fromhex(loads(blobs[PSEUDONYMS])["key"]) if PSEUDONYMS in blobs else b""
    return core.DrawInputs(
        round_key=round_key,
        plan=loads(blobs["plan.json"]),
        enterprises=[
            EnterpriseUnit.from_json(loads(line))
            for line in blobs["frame-enterprises.jsonl"].splitlines()
        ],
        inspectors=[
            InspectorUnit.from_json(loads(line))
            for line in blobs["frame-inspectors.jsonl"].splitlines()
        ],
        conflicts=frozenset(tuple(p) for p in cons["conflicts"]),  # type: ignore[misc]
        recent_pairs=frozenset(tuple(p) for p in cons["recent_pairs"]),  # type: ignore[misc]
        version=2 if key else 1,
        pseudonym_key=key,
    )
