#!/usr/bin/env python3
"""verify_exchange.py: check the exchange's witness evidence, standard library only.

Usage:
  python3 -I -S verify_exchange.py equivocation PROOF.json [--origin-key VKEY]
  python3 -I -S verify_exchange.py checkpoint NOTE.txt --log-key VKEY --quorum N \\
      [--witness VKEY ...]

equivocation: both checkpoints of the proof are C2SP checkpoints of one origin, each with a
valid Ed25519 signature by the origin's key (--origin-key, the key you trust; without it the
key the proof names, printed for you to compare), of the same size and with different roots;
and the finder's signature over the statement verifies. Exit 0: the origin equivocated.

checkpoint: the note is a checkpoint signed by --log-key and carries valid C2SP
cosignature/v1 (Ed25519) lines by at least N distinct --witness keys other than the log's
own. Exit 0: quorum reached; exit 1: it was not (or anything does not verify), said why.

Formats: docs/exchange-protocol.md ("Witnessing", "Equivocation proofs"). This file imports
nothing outside the Python standard library and nothing from shuangsui.
"""

import base64
import hashlib
import json
import sys

DASH = "\u2014 "
EQUIVOCATION_DOMAIN = b"shuangsui-equivocation/v1\n"


class Invalid(Exception):
    pass


# ---------------------------------------------------------------- Ed25519 (RFC 8032 §5.1.7)
# Verification only, from the RFC's reference arithmetic: partner bureaus' signed checkpoints
# can then be checked with the standard library alone.
_EP = 2**255 - 19
_EL = 2**252 + 27742317777372353535851937790883648493
_ED = -121665 * pow(121666, _EP - 2, _EP) % _EP
_EI = pow(2, (_EP - 1) // 4, _EP)


def _ed_x(y, sign):
    if y >= _EP:
        return None
    x2 = (y * y - 1) * pow(_ED * y * y + 1, _EP - 2, _EP)
    if x2 % _EP == 0:
        return None if sign else 0
    x = pow(x2, (_EP + 3) // 8, _EP)
    if (x * x - x2) % _EP:
        x = x * _EI % _EP
    if (x * x - x2) % _EP:
        return None
    return _EP - x if (x & 1) != sign else x


def _ed_add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa, bb = (y1 - x1) * (y2 - x2) % _EP, (y1 + x1) * (y2 + x2) % _EP
    cc, dd = 2 * t1 * t2 * _ED % _EP, 2 * z1 * z2 % _EP
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % _EP, g * h % _EP, f * g % _EP, e * h % _EP)


def _ed_mul(s, pt):
    acc = (0, 1, 1, 0)
    while s:
        if s & 1:
            acc = _ed_add(acc, pt)
        pt = _ed_add(pt, pt)
        s >>= 1
    return acc


def _ed_point(raw):
    y = int.from_bytes(raw, "little")
    x = _ed_x(y & ((1 << 255) - 1), y >> 255)
    return None if x is None else (x, y & ((1 << 255) - 1), 1, x * (y & ((1 << 255) - 1)) % _EP)


_EG = _ed_point((4 * pow(5, _EP - 2, _EP) % _EP).to_bytes(32, "little"))


def ed25519_verify(public, message, signature):
    if len(public) != 32 or len(signature) != 64:
        return False
    a, r = _ed_point(public), _ed_point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _EL:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little")
    left, right = _ed_mul(s, _EG), _ed_add(r, _ed_mul(h % _EL, a))
    return (left[0] * right[2] - right[0] * left[2]) % _EP == 0 and (
        left[1] * right[2] - right[1] * left[2]
    ) % _EP == 0


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_vkey(text):
    """name+hex(key id)+base64(0x01 || key): (name, key id bytes, raw 32-byte key)."""
    try:
        name, kid, b64 = str(text).strip().split("+", 2)
        blob = base64.b64decode(b64, validate=True)
    except ValueError:
        raise Invalid(f"verifier key {text!r}: expected name+hash+base64key") from None
    if not name or blob[:1] != b"\x01" or len(blob) != 33:
        raise Invalid(f"verifier key {text!r}: not an Ed25519 key")
    if hashlib.sha256(name.encode() + b"\n" + blob).digest()[:4].hex() != kid:
        raise Invalid(f"verifier key {text!r}: key hash does not match the key")
    return name, bytes.fromhex(kid), blob[1:]


def split_note(note):
    text, sep, sigs = note.partition("\n\n")
    if not sep or not sigs.endswith("\n"):
        raise Invalid("malformed note: no signature block")
    lines = sigs[:-1].split("\n")
    out = []
    for line in lines:
        parts = line[len(DASH) :].split(" ") if line.startswith(DASH) else []
        try:
            if len(parts) != 2:
                raise ValueError
            out.append((parts[0], base64.b64decode(parts[1], validate=True)))
        except ValueError:
            raise Invalid(f"malformed signature line {line[:40]!r}") from None
    return text + "\n", out


def checkpoint(note, vkey):
    """(origin, size, root) of a checkpoint signed by vkey (a parse_vkey triple)."""
    name, kid, pub = vkey
    body, sigs = split_note(note)
    mine = [blob for who, blob in sigs if who == name and blob[:4] == kid]
    if not mine:
        raise Invalid("no signature by " + name + "+" + kid.hex())
    if not all(ed25519_verify(pub, body.encode(), blob[4:]) for blob in mine):
        raise Invalid("the signature by " + name + " does not verify")
    lines = body[:-1].split("\n")
    if len(lines) < 3 or lines[0] != name:
        raise Invalid(f"checkpoint origin {lines[0]!r} is not {name!r}")
    if not lines[1].isdigit() or str(int(lines[1])) != lines[1]:
        raise Invalid(f"malformed checkpoint size {lines[1]!r}")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except ValueError:
        raise Invalid("malformed checkpoint root") from None
    if len(root) != 32:
        raise Invalid("malformed checkpoint root")
    return lines[0], int(lines[1]), root


def cosigners(note, witnesses, origin):
    """Names of the witnesses (other than origin) with a valid cosignature/v1 on the note."""
    body, sigs = split_note(note)
    found = set()
    for name, _kid, pub in witnesses:
        if name == origin:
            continue
        kid = hashlib.sha256(name.encode() + b"\n" + b"\x04" + pub).digest()[:4]
        for who, blob in sigs:
            if who != name or blob[:4] != kid:
                continue
            if len(blob) != 76:
                raise Invalid("cosignature by " + name + ": not 76 bytes")
            stamp = int.from_bytes(blob[4:12], "big")
            message = f"cosignature/v1\ntime {stamp}\n{body}".encode()
            if not ed25519_verify(pub, message, blob[12:]):
                raise Invalid("cosignature by " + name + " does not verify")
            found.add(name)
    return found


def check_equivocation(proof, origin_key=None):
    if not isinstance(proof, dict) or set(proof) != {"statement", "signature"}:
        raise Invalid("an equivocation proof is {statement, signature}")
    st = proof["statement"]
    want = {"v", "type", "origin", "origin_key", "size", "checkpoints", "sources", "found_by",
            "finder_key", "found_at"}  # fmt: skip
    if not isinstance(st, dict) or set(st) != want or st["type"] != "equivocation":
        raise Invalid("statement: fields must be exactly " + ", ".join(sorted(want)))
    key = parse_vkey(st["origin_key"])
    if origin_key is not None and parse_vkey(origin_key) != key:
        raise Invalid("the proof names key {}, not the one given".format(st["origin_key"]))
    if key[0] != st["origin"]:
        raise Invalid("origin_key is not a key of " + str(st["origin"]))
    notes = st["checkpoints"]
    if not isinstance(notes, list) or len(notes) != 2:
        raise Invalid("statement.checkpoints: exactly two signed notes")
    (o1, n1, r1), (o2, n2, r2) = (checkpoint(str(n), key) for n in notes)
    if not (n1 == n2 == st["size"]):
        raise Invalid("the two checkpoints are not both of the stated size")
    if r1 == r2:
        raise Invalid("the two checkpoints have the same root: no equivocation")
    finder = parse_vkey(st["finder_key"])
    try:
        sig = base64.b64decode(str(proof["signature"]), validate=True)
    except ValueError:
        sig = b""
    if finder[0] != st["found_by"] or not ed25519_verify(
        finder[2], EQUIVOCATION_DOMAIN + canonical(st), sig
    ):
        raise Invalid("the finder's signature does not verify")
    return st, [base64.b64encode(r1).decode(), base64.b64encode(r2).decode()]


def _option(args, name, many=False):
    values = [args[i + 1] for i, a in enumerate(args[:-1]) if a == name]
    return values if many else (values[-1] if values else None)


def main(argv, say=print):
    if len(argv) < 2 or argv[0] not in ("equivocation", "checkpoint"):
        say(__doc__.split("\n\n")[1])
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            text = f.read()
        if argv[0] == "equivocation":
            st, roots = check_equivocation(json.loads(text), _option(argv, "--origin-key"))
            say("origin key: " + st["origin_key"])
            say(
                f"OK: {st['origin']} signed two checkpoints of size {st['size']} with roots "
                f"{roots[0]} and {roots[1]} (found by {st['found_by']} at {st['found_at']})"
            )
            return 0
        log_key, quorum = _option(argv, "--log-key"), _option(argv, "--quorum")
        if log_key is None or quorum is None or not quorum.isdigit():
            raise Invalid("checkpoint needs --log-key VKEY and --quorum N")
        origin, size, _root = checkpoint(text, parse_vkey(log_key))
        found = cosigners(text, [parse_vkey(w) for w in _option(argv, "--witness", True)], origin)
        names = ", ".join(sorted(found)) or "none"
        if len(found) < int(quorum):
            raise Invalid(f"checkpoint of {origin} size {size} reached {len(found)} of "
                          f"{quorum} cosignatures ({names})")  # fmt: skip
        say(
            f"OK: checkpoint of {origin} size {size} cosigned by {len(found)} of {quorum} "
            f"required ({names})"
        )
        return 0
    except (Invalid, OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        say("FAIL: " + str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
