"""C2SP tlog-cosignature/v1 (Ed25519) over our signed-note checkpoints (pure: no I/O).

A witness's cosignature is one more signature line on the checkpoint note
(c2sp.org/tlog-cosignature, "Ed25519 signed message")::

    — <witness name> base64(key id[4] || timestamp[8, big-endian] || Ed25519 signature[64])

    key id  = SHA-256(<witness name> || "\\n" || 0x04 || 32-byte public key)[:4]
    message = "cosignature/v1\\n" || "time " || decimal(timestamp) || "\\n" || checkpoint body

where the body is the note text up to and including its final newline, without any signature
line. The timestamp is POSIX seconds (no leading zeroes, at most 2^63-1). A cosignature says:
"as of that time, the largest consistent tree I have seen for this origin has this root".

Our witness name is the bureau's log name ``shuangsui.<code>`` and its key the bureau's
Ed25519 key: the 0x04 key id keeps cosignature lines apart from checkpoint signatures (0x01),
and the ``cosignature/v1`` header keeps the signed messages apart (docs/exchange-protocol.md
"Witnessing").
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.errors import NoteError
from exchange.notes import DASH, VerifierKey

COSIGNATURE_V1 = b"\x04"
HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1


def cosigner_key_id(name: str, public: bytes) -> bytes:
    """SHA-256(name || "\\n" || 0x04 || public key)[:4] (tlog-cosignature, Format)."""
    return hashlib.sha256(name.encode() + b"\n" + COSIGNATURE_V1 + public).digest()[:4]


def signed_message(body: str, timestamp: int) -> bytes:
    """The exact bytes an Ed25519 cosignature/v1 signs."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise NoteError(f"cosignature timestamp {timestamp} is outside 0..2^63-1")
    if not body.endswith("\n") or "\n\n" in body:
        raise NoteError("a cosigned body ends with a newline and holds no blank line")
    return f"{HEADER}time {timestamp}\n{body}".encode()


def split_note(note: str) -> tuple[str, list[str]]:
    """(body with its final newline, signature lines without their newlines)."""
    text, sep, sigs = note.partition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise NoteError("malformed note: no signature block")
    lines = sigs[:-1].split("\n")
    if not all(line.startswith(DASH) for line in lines):
        raise NoteError("malformed note: a signature line does not start with '— '")
    return text + "\n", lines


def join_note(body: str, lines: list[str]) -> str:
    return body + "\n" + "".join(line + "\n" for line in lines)


def cosign(body: str, name: str, private: Ed25519PrivateKey, timestamp: int) -> str:
    """The cosignature line (without its newline) of witness ``name`` on ``body``."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    sig = private.sign(signed_message(body, timestamp))
    blob = cosigner_key_id(name, public) + timestamp.to_bytes(8, "big") + sig
    return f"{DASH}{name} {base64.b64encode(blob).decode()}"


@dataclass(frozen=True)
class Cosignature:
    witness: str  # the witness's name (our partners: shuangsui.<code>)
    timestamp: int
    line: str


def _line_parts(line: str) -> tuple[str, bytes] | None:
    try:
        name, b64 = line[len(DASH) :].split(" ")
        return name, base64.b64decode(b64, validate=True)
    except ValueError:
        return None


def find_cosignatures(
    body: str, lines: list[str], witnesses: list[VerifierKey]
) -> list[Cosignature]:
    """The valid cosignatures among ``lines`` by the given witness keys (name + Ed25519 key).
    Lines of other keys are ignored (as the spec asks); a line that claims one of these keys
    (name and 0x04 key id) but does not verify is an error: a malformed note."""
    out: list[Cosignature] = []
    for line in lines:
        parts = _line_parts(line)
        if parts is None:
            continue
        name, blob = parts
        for key in witnesses:
            if key.name != name or blob[:4] != cosigner_key_id(name, key.public):
                continue
            if len(blob) != 4 + 8 + 64:
                raise NoteError(f"cosignature by {name}: not 76 bytes")
            timestamp = int.from_bytes(blob[4:12], "big")
            try:
                key.ed25519().verify(blob[12:], signed_message(body, timestamp))
            except InvalidSignature:
                raise NoteError(f"bad cosignature by {name}") from None
            out.append(Cosignature(name, timestamp, line))
    return out


def origin_lines(lines: list[str], origin_key: VerifierKey) -> list[str]:
    """The signature lines of the log's own key (0x01 key id), without any cosignature."""
    out = []
    for line in lines:
        parts = _line_parts(line)
        if parts and parts[0] == origin_key.name and parts[1][:4].hex() == origin_key.key_id:
            out.append(line)
    return out


def timestamp_of(moment: dt.datetime) -> int:
    return int(moment.timestamp())
