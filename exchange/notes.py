"""C2SP signed notes and tlog checkpoints with Ed25519 keys (pure: no I/O).

Checkpoint text (c2sp.org/tlog-checkpoint)::

    shuangsui.350000            <- origin: the log's unique name (also its key name)
    1234                        <- tree size
    base64(root hash)           <- RFC 6962 root
    time 2026-12-01T09:00:00Z   <- extension line: when the bureau signed it

    — shuangsui.350000 base64(key hash[4] || Ed25519 signature)

Signed note (c2sp.org/signed-note): the signature covers the text up to and including its final
newline; key hash = SHA-256(name || "\\n" || 0x01 || public key)[:4]; a verifier key is written
``name+hex(key hash)+base64(0x01 || public key)``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from exchange.errors import NoteError, UnknownSigner

__all__ = [
    "Checkpoint",
    "VerifierKey",
    "format_checkpoint",
    "parse_checkpoint",
    "sign_note",
    "verifier_key",
    "verify_note",
]

ED25519 = b"\x01"
DASH = "\u2014 "
# c2sp.org/signed-note: "MUST NOT contain any ASCII control characters (those below U+0020)
# other than newline"
CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")
# The largest tree size a shuangsui log holds: sizes and sequence numbers are ``integer``
# columns (32 bits on PostgreSQL). A partner's checkpoint of a larger size was stored (the
# checkpoint seen, our cosignature) and failed there as this bureau's own fault.
MAX_SIZE = 2**31 - 1


def _raw(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_hash(name: str, pub: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + pub).digest()[:4]


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: str  # hex of the 4-byte key hash
    public: bytes  # raw 32-byte Ed25519 key

    @property
    def text(self) -> str:
        return f"{self.name}+{self.key_id}+{base64.b64encode(ED25519 + self.public).decode()}"

    @property
    def http_key_id(self) -> str:
        """The keyid of HTTP message signatures made with this key."""
        return f"{self.name}+{self.key_id}"

    def ed25519(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public)

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        try:
            name, kid, b64 = text.strip().split("+", 2)
            blob = base64.b64decode(b64, validate=True)
        except ValueError:
            raise NoteError(f"verifier key {text!r}: expected name+hash+base64key") from None
        if not name or blob[:1] != ED25519 or len(blob) != 33:
            raise NoteError(f"verifier key {text!r}: not an Ed25519 key")
        if key_hash(name, blob[1:]).hex() != kid:
            raise NoteError(f"verifier key {text!r}: key hash does not match the key")
        return cls(name, kid, blob[1:])


def verifier_key(name: str, private: Ed25519PrivateKey) -> VerifierKey:
    pub = _raw(private.public_key())
    return VerifierKey(name, key_hash(name, pub).hex(), pub)


def sign_note(text: str, name: str, private: Ed25519PrivateKey) -> str:
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("note text must end with a newline and contain no blank line")
    sig = private.sign(text.encode())
    kh = key_hash(name, _raw(private.public_key()))
    return f"{text}\n{DASH}{name} {base64.b64encode(kh + sig).decode()}\n"


def verify_note(note: str, keys: list[VerifierKey]) -> tuple[str, VerifierKey]:
    """The note's text and the first of ``keys`` whose valid signature it carries."""
    if control := CONTROL.search(note):
        raise NoteError(f"malformed note: it holds the control character "
                        f"U+{ord(control[0]):04X} (a signed note holds none but the line "
                        "break: c2sp.org/signed-note)")  # fmt: skip
    text, sep, sigs = note.partition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise NoteError("malformed note: no signature block")
    text += "\n"
    signers = []  # the keys it is signed by, as the lines name them
    for line in sigs[:-1].split("\n"):
        if not line.startswith(DASH):
            raise NoteError(f"malformed signature line {line[:40]!r}")
        try:
            name, b64 = line[len(DASH) :].split(" ")
            blob = base64.b64decode(b64, validate=True)
        except ValueError:
            raise NoteError(f"malformed signature line {line[:40]!r}") from None
        signers.append(f"{name[:60]}+{blob[:4].hex()}")
        for key in keys:
            if key.name == name and blob[:4].hex() == key.key_id:
                try:
                    key.ed25519().verify(blob[4:], text.encode())
                except InvalidSignature:
                    raise NoteError(f"bad signature by {name}+{key.key_id}") from None
                return text, key
    raise UnknownSigner(
        "no signature by a known key ("
        + ", ".join(k.text for k in keys)
        + "); signed by "
        + ", ".join(signers[:5])
        + (f" and {len(signers) - 5} more" if len(signers) > 5 else ""),
        signers,
    )


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    time: dt.datetime
    text: str = ""  # the whole signed note, when parsed from one
    key_id: str = ""


def _utc(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_checkpoint(
    origin: str, size: int, root: bytes, time: dt.datetime, private: Ed25519PrivateKey
) -> str:
    body = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\ntime {_utc(time)}\n"
    return sign_note(body, origin, private)


def parse_checkpoint(note: str, keys: list[VerifierKey], origin: str) -> Checkpoint:
    """Verify the signature by one of ``keys`` and parse; the origin must be ``origin``."""
    text, key = verify_note(note, keys)
    lines = text[:-1].split("\n")
    if len(lines) < 4 or lines[0] != origin:
        raise NoteError(f"checkpoint origin {lines[0]!r} is not {origin!r}")
    try:
        size = int(lines[1])
        root = base64.b64decode(lines[2], validate=True)
        tline = next(x for x in lines[3:] if x.startswith("time "))
        time = dt.datetime.strptime(tline[5:], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except (ValueError, StopIteration):
        raise NoteError("malformed checkpoint body") from None
    if size < 0 or str(size) != lines[1] or len(root) != 32:
        raise NoteError("malformed checkpoint size or root")
    if size > MAX_SIZE:
        raise NoteError(f"tree size {size} is more than {MAX_SIZE}, the most a shuangsui log "
                        "holds")  # fmt: skip
    return Checkpoint(origin, size, root, time, note, key.key_id)
