#!/usr/bin/env python3
"""verify.py: re-run a shuangsui draw from its published bundle, standard library only.

Usage: python3 -I -S verify.py BUNDLE_DIR

Recomputes the plan hash, both frame commitments and Merkle roots, the constraints commitment,
each entropy record's own check, the seed, the whole selection and the inspector teams, and
compares them with round.json, selection.json and teams.json; then checks MANIFEST.sha256
and that the folder holds nothing it does not list (but what BESIDE names).
Exit 0: everything matched. Exit 1: the first mismatch, named precisely.

A failed round's bundle (round.json "outcome": "failed") holds failure.json instead of
selection.json and teams.json: the draw is re-run up to its failure, which must be the failure
claimed (enterprise, team size, eligible inspectors, rule, shortfall, message); exit 0 then
prints "OK: confirmed: the round fails: ...".

Two audiences (docs/draw-algorithm.md §12): an auditor bundle names the inspectors; a public
bundle shows them only under pseudonyms (frame-inspectors-public.jsonl, recused-public.json),
and its teams, workloads and recusals are checked on the pseudonyms.

A round whose teams changed after the draw (§14) has replacements.json, listed in
MANIFEST.sha256 right after teams.json: each replacement is redone in turn from the draw's
teams and workloads just checked (the next number, the member at that seat, a known cause, the
pick the rules give), and the teams as they stand are printed.

Memory (a frame can hold millions of units): frame-enterprises.jsonl is read line by line,
hashed as it is read, and held only as the draw needs it (Frame: about 30 bytes a unit, not
the row). It cannot be dropped: the tickets need the seed, and the seed needs the whole frame's
commitment. The selection, the teams and selection.json / teams.json (JSON documents, parsed
whole) are held to be compared; files are hashed for MANIFEST.sha256 in blocks.

This file is also the reference implementation of docs/draw-algorithm.md: it imports nothing
outside the Python standard library and nothing from shuangsui.
"""

import base64
import functools
import hashlib
import heapq
import hmac
import json
import os
import re
import stat
import sys
from decimal import Decimal
from fractions import Fraction

FILES = (
    "plan.json",
    "frame-enterprises.jsonl",
    "frame-inspectors.jsonl",
    "constraints.json",
    "entropy.json",
    "round.json",
    "selection.json",
    "teams.json",
    "verify.py",
)
FILES_AUDITOR_V2 = FILES + ("pseudonyms.json",)
FAILED_FILES = tuple(n for n in FILES if n not in ("selection.json", "teams.json")) + (
    "failure.json",
)
FAILED_FILES_AUDITOR_V2 = FAILED_FILES + ("pseudonyms.json",)
FILES_PUBLIC = (
    "plan.json",
    "frame-enterprises.jsonl",
    "frame-inspectors-public.jsonl",
    "recused-public.json",
    "entropy.json",
    "round.json",
    "selection.json",
    "teams.json",
    "verify.py",
)
FAILED_FILES_PUBLIC = tuple(
    n for n in FILES_PUBLIC if n not in ("selection.json", "teams.json")
) + ("failure.json",)
REPLACEMENTS = "replacements.json"  # §14: only in a drawn round's bundle, after teams.json
# What may lie in a bundle's folder unlisted, said but not checked here (name: (a folder?, what
# is said)): the round's classification bundle, which `shuangsui risk bundle ROUND` writes into
# the round's bundle folder by default (docs/risk.md); the round's commitment as the public
# site published it, which the round's page has the reader download beside the bundle; and the
# files a file manager writes into a folder it shows (macOS Finder, Windows Explorer).
FILE_MANAGER = "written by a file manager, not part of the bundle, not read"
BESIDE = {
    "risk": (True, "risk/: the round's classification bundle, not checked here (its own "
                   "verify_classes.py checks it)"),
    "commitment.json": (False, "commitment.json: the round's published commitment, not checked "
                               "here: compare each of its commitments with round.json's"),
    ".DS_Store": (False, ".DS_Store: " + FILE_MANAGER),
    "Thumbs.db": (False, "Thumbs.db: " + FILE_MANAGER),
    "desktop.ini": (False, "desktop.ini: " + FILE_MANAGER),
}  # fmt: skip
PUBLIC_COMMITMENTS = ("public_inspector_commitment", "public_inspector_size",
                      "public_recused_commitment")  # fmt: skip
RULES = {
    "inactive": "not active",
    "credential": "enforcement credential not valid over the whole window",
    "leave": "on leave during the window",
    "expertise": "no expertise in the enterprise's in-scope cert kinds",
    "conflict": "recused for declared conflict",
    "same-division": "recused: enterprise in the inspector's own division",
    "recent": "on a team for this enterprise in recent rounds",
    "workload": "at the workload cap",
}


class Mismatch(Exception):
    """A recomputed value differs from the bundle (the message names where)."""


STAGE = ["(start)"]  # the file being checked, named when an unexpected error occurs


def stage(name):
    STAGE[0] = name


class Infeasible(ValueError):
    """The team constraints cannot be met; ``facts`` is the failure as failure.json states it."""

    def __init__(self, message, facts=None):
        super().__init__(message)
        self.facts = dict(facts or {}, message=message)


# ---------------------------------------------------------------- canonical bytes (§1)
CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(obj):
    def check(o):
        if isinstance(o, float):
            raise TypeError("floats are not allowed in canonical JSON")
        if isinstance(o, int) and abs(o) > 2**53 - 1:
            raise TypeError("integer outside +-(2**53 - 1)")
        if isinstance(o, dict):
            for k, v in o.items():
                if not isinstance(k, str):
                    raise TypeError("non-string key")
                check(v)
        elif isinstance(o, (list, tuple)):
            for v in o:
                check(v)

    check(obj)
    return CANONICAL_JSON.encode(obj).encode()


def lp(text):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return len(data).to_bytes(4, "big") + data


def sha(data):
    return hashlib.sha256(data).digest()


# ---------------------------------------------------------------- Merkle tree (§2)
def merkle_root(rows):
    """RFC 6962 MTH, written as the recursive definition."""
    if not rows:
        return sha(b"")
    if len(rows) == 1:
        return sha(b"\x00" + rows[0])
    k = 1
    while k * 2 < len(rows):
        k *= 2
    return sha(b"\x01" + merkle_root(rows[:k]) + merkle_root(rows[k:]))


def merkle_root_iter(rows):
    """Same root without deep recursion: pair neighbours level by level."""
    level = [sha(b"\x00" + r) for r in rows]
    if not level:
        return sha(b"")
    while len(level) > 1:
        nxt = [sha(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def merkle_root_stream(rows):
    """Same root from an iterable, holding one hash per level (a frame can hold millions of
    rows): two complete subtrees of the same size side by side are joined at once, and what
    stands at the end, sizes decreasing, is joined right to left (the largest power of two
    first, as the recursive definition splits)."""
    stack: list = []  # (size, hash) of complete subtrees, left to right
    for r in rows:
        size, node = 1, sha(b"\x00" + r)
        while stack and stack[-1][0] == size:
            size, node = size * 2, sha(b"\x01" + stack.pop()[1] + node)
        stack.append((size, node))
    if not stack:
        return sha(b"")
    node = stack.pop()[1]
    while stack:
        node = sha(b"\x01" + stack.pop()[1] + node)
    return node


# ---------------------------------------------------------------- frames (§3)
def enterprise_row(e):
    fields = [
        e["credit_code"],
        e["division_code"],
        e["risk_class"],
        e["stratum"],
        e["status"],
        e["note"],
        str(len(e["cert_kinds"])),
    ] + list(e["cert_kinds"])
    return b"".join(map(lp, fields))  # a frame has millions of rows: no generator per row


def inspector_row(i):
    fields = [
        i["inspector_id"],
        i["division_code"],
        i["unit"],
        "1" if i["active"] else "0",
        i["credential_from"],
        i["credential_until"],
        str(len(i["expertise"])),
    ]
    fields += list(i["expertise"]) + [str(len(i["leaves"]))]
    fields += [s + "/" + e for s, e in i["leaves"]]
    return b"".join(lp(f) for f in fields)


def commitment(rows):
    h = hashlib.sha256()
    for r in rows:
        h.update(len(r).to_bytes(4, "big") + r)
    return h.hexdigest()


def frame_digests(units):
    """(size, commitment, Merkle root) of the enterprise frame ``units``, in one pass over
    their rows without holding them (the same values as ``commitment`` and ``merkle_root``)."""
    h, size = hashlib.sha256(), 0

    def rows():
        nonlocal size
        for e in units:
            r = enterprise_row(e)
            h.update(len(r).to_bytes(4, "big") + r)
            size += 1
            yield r

    root = merkle_root_stream(rows())
    return size, h.hexdigest(), root.hex()


def constraints_commitment(conflicts, recent):
    h = hashlib.sha256()
    for name, pairs in (("conflicts", conflicts), ("recent", recent)):
        items = sorted({(a, b) for a, b in pairs})
        h.update(lp(name) + lp(str(len(items))))
        for a, b in items:
            h.update(lp(a) + lp(b))
    return h.hexdigest()


# ---------------------------------------------------------------- public view (§12)
def pseudonym(key, round_key, inspector_id):
    mac = hmac.new(key, lp(round_key) + lp(inspector_id), hashlib.sha256)
    return mac.hexdigest()[:16]


def public_row(r):
    fields = [r["pseudonym"], r["division_code"], "1" if r["available"] else "0"]
    fields += [str(len(r["expertise"]))] + list(r["expertise"])
    return b"".join(lp(f) for f in fields)


def recused_commitment(pairs):
    items = sorted({(a, b) for a, b in pairs})
    h = hashlib.sha256(lp("recused") + lp(str(len(items))))
    for a, b in items:
        h.update(lp(a) + lp(b))
    return h.hexdigest()


def public_view(version, round_key, plan, insps, conflicts, recent, key):
    """(pseudonym of each inspector id, public rows sorted by pseudonym, sorted recused pairs)."""
    insps = sorted(insps, key=lambda i: i["inspector_id"])
    if version >= 2:
        names = {i["inspector_id"]: pseudonym(key, round_key, i["inspector_id"]) for i in insps}
        if len(set(names.values())) != len(names):
            raise ValueError("two inspectors share a pseudonym")
    else:
        width = max(6, len(str(len(insps))))
        names = {i["inspector_id"]: str(n).zfill(width) for n, i in enumerate(insps, 1)}
    t, start, end = plan["teams"], plan["window"]["start"], plan["window"]["end"]
    rows = sorted(
        (
            {
                "pseudonym": names[i["inspector_id"]],
                "division_code": i["division_code"] if t["recuse_same_division"] else "",
                "available": static_rule(i, start, end) is None,
                "expertise": list(i["expertise"]) if t["expertise_required"] else [],
            }
            for i in insps
        ),
        key=lambda r: r["pseudonym"],
    )
    pairs = {tuple(p) for p in conflicts}
    if t["recuse_recent_rounds"] > 0:
        pairs |= {tuple(p) for p in recent}
    recused = sorted({(names[a], b) for a, b in pairs if a in names})
    return names, rows, recused


def as_inspector(row):
    """A public row in the shape the team draw reads: unavailable = rules 1-3 apply."""
    return {"inspector_id": row["pseudonym"], "division_code": row["division_code"],
            "expertise": row["expertise"], "active": row["available"],
            "credential_from": "", "credential_until": "", "leaves": []}  # fmt: skip


# ---------------------------------------------------------------- plan (§4)
def rate_value(text):
    m = re.match(r"^(\d+(?:\.\d+)?)%$", text)
    if not m:
        raise ValueError("bad rate " + repr(text))
    return Fraction(Decimal(m.group(1))) / 100


def division_prefix(code):
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


def stratum_label(plan, division, risk):
    parts = [division[:4] + "00" if k == "division" else risk for k in plan["strata"]["by"]]
    return "/".join(parts) or "*"


def stratum_rate(plan, label):
    rates = plan["strata"]["rates"]
    if "risk_class" in plan["strata"]["by"] and label.split("/")[-1] in rates:
        return rate_value(rates[label.split("/")[-1]])
    return rate_value(rates["*"])


# ---------------------------------------------------------------- entropy and seed (§5)
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


def partner_checkpoints_problem(rec):
    """Each partner checkpoint is a C2SP signed note, Ed25519-signed by the key named in the
    record and issued after the commitment. Whether each key really is that partner's is for
    the reader to compare with the keys the partners publish (printed by verify())."""
    after, cps = rec.get("after"), rec.get("checkpoints")
    if not isinstance(after, str) or not isinstance(cps, list) or not cps:
        return "needs 'after' and a non-empty 'checkpoints'"
    for cp in cps:
        if not isinstance(cp, dict) or set(cp) != {"partner", "key_id", "vkey", "checkpoint"}:
            return "each checkpoint has exactly: partner, key_id, vkey, checkpoint"
        who = str(cp["partner"])
        try:
            name, kid, b64 = cp["vkey"].split("+", 2)
            pub = base64.b64decode(b64, validate=True)
            text, sigs = cp["checkpoint"].split("\n\n", 1)
            sig_name, sig_b64 = sigs.strip().split(" ")[1:3]
            sig = base64.b64decode(sig_b64, validate=True)
        except (ValueError, AttributeError):
            return who + ": malformed key or checkpoint"
        khash = sha(name.encode() + b"\n" + pub)[:4].hex()
        if pub[:1] != b"\x01" or kid != cp["key_id"] or khash != kid or sig[:4].hex() != kid:
            return who + ": key id mismatch"
        if not ed25519_verify(pub[1:], (text + "\n").encode(), sig[4:]):
            return who + ": checkpoint signature does not verify"
        lines = text.split("\n")
        if sig_name != name or lines[0] != name:
            return who + ": origin is not " + name
        times = [x[5:] for x in lines[3:] if x.startswith("time ")]
        if len(times) != 1 or not times[0] > after:
            return who + ": checkpoint not issued after " + after
    return None


def entropy_problem(rec):
    """None if the record passes its own check, else what is wrong."""
    src = rec.get("source")
    shapes = {
        "witness-digits": {"source", "digits", "witnesses"},
        "beacon": {"source", "url", "chain_hash", "round", "randomness", "signature"},
        "commit-reveal": {"source", "commitment", "secret", "committed_in"},
        "partner-checkpoints": {"source", "after", "checkpoints"},
    }
    if src not in shapes:
        return "unknown source " + repr(src)
    if set(rec) != shapes[src]:
        return "fields must be exactly " + ", ".join(sorted(shapes[src]))
    if src == "witness-digits":
        d = rec["digits"]
        if not (isinstance(d, str) and d.isascii() and d.isdigit() and len(d) >= 20):
            return "digits must be at least 20 decimal digits"
        if not rec["witnesses"]:
            return "no witnesses named"
    elif src == "beacon":
        try:
            ok = hashlib.sha256(bytes.fromhex(rec["signature"])).hexdigest() == rec["randomness"]
        except (TypeError, ValueError):
            ok = False
        if not ok or type(rec["round"]) is not int:
            return "randomness != sha256(signature) for round " + str(rec["round"])
    elif src == "partner-checkpoints":
        return partner_checkpoints_problem(rec)
    else:
        if not isinstance(rec["secret"], str):
            return "secret must be a string"
        if hashlib.sha256(rec["secret"].encode()).hexdigest() != rec["commitment"]:
            return "sha256(secret) does not match the commitment"
    return None


def derive_seed(round_key, plan_hash, frame_c, inspector_c, constraints_c, entropy,
                version=1, public=None):  # fmt: skip
    """``public``: version 2's (public_inspector_commitment, public_recused_commitment)."""
    if version not in (1, 2):
        raise ValueError("unknown draw version " + repr(version))
    for n, rec in enumerate(entropy):
        problem = entropy_problem(rec)
        if problem:
            raise ValueError(f"entropy record {n}: {problem}")
    if not entropy:
        raise ValueError("no entropy records")
    doc = {
        "v": 1,
        "round_key": round_key,
        "plan_hash": plan_hash,
        "frame_commitment": frame_c,
        "inspector_commitment": inspector_c,
        "constraints_commitment": constraints_c,
        "entropy": entropy,
    }
    if version == 1:
        doc["v"] = 1
    else:
        doc["v"] = version
        doc["public_inspector_commitment"], doc["public_recused_commitment"] = public
    return sha(canonical(doc))


# ---------------------------------------------------------------- selection (§6-§8)
def ticket(seed, unit_id):
    return sha(seed + lp(unit_id))


def quota(rate, size, minimum):
    k = -((-rate.numerator * size) // rate.denominator)
    return min(size, max(minimum, k))


def trim(quotas, cap):
    total = sum(quotas.values())
    if cap is None or total <= cap:
        return dict(quotas)
    out = {s: cap * k // total for s, k in quotas.items()}
    order = sorted(quotas, key=lambda s: (-(cap * quotas[s] % total), s))
    for s in order[: cap - sum(out.values())]:
        out[s] += 1
    return out


def weighted_key(weight):
    """Sort key of a unit (ticket, credit_code, facts) in the weighted order (§7): weighted_cmp
    on (H, weight[risk_class], credit_code)."""
    key = functools.cmp_to_key(weighted_cmp)
    return lambda u: key((int.from_bytes(u[0], "big"), weight[u[2][0]], u[1]))


def weighted_cmp(a, b):
    """a, b = (H, weight, id): a first iff (2Ha+1)*wb < (2Hb+1)*wa, ties by id."""
    left, right = (2 * a[0] + 1) * b[1], (2 * b[0] + 1) * a[1]
    if left != right:
        return -1 if left < right else 1
    return -1 if a[2] < b[2] else (1 if a[2] > b[2] else 0)


# ---------------------------------------------------------------- teams (§9)
def static_rule(insp, start, end):
    """The rules that do not depend on the enterprise."""
    if not insp["active"]:
        return "inactive"
    if (insp["credential_from"] and insp["credential_from"] > start) or (
        insp["credential_until"] and insp["credential_until"] < end
    ):
        return "credential"
    if any(s <= end and e >= start for s, e in insp["leaves"]):
        return "leave"
    return None


def elimination(insp, ent, plan, conflicts, recent, load):
    t, start, end = plan["teams"], plan["window"]["start"], plan["window"]["end"]
    rule = static_rule(insp, start, end)
    if rule:
        return rule
    if t["expertise_required"] and not set(insp["expertise"]) & set(ent["cert_kinds"]):
        return "expertise"
    pair = (insp["inspector_id"], ent["credit_code"])
    if pair in conflicts:
        return "conflict"
    if t["recuse_same_division"] and ent["division_code"].startswith(
        division_prefix(insp["division_code"])
    ):
        return "same-division"
    if t["recuse_recent_rounds"] > 0 and pair in recent:
        return "recent"
    if load >= t["workload_cap"]:
        return "workload"
    return None


def _popcount(n):
    return bin(n).count("1")


# Set bits counted: int.bit_count from Python 3.10; before it, the same count by the binary
# text (a string as long as the mask for every count: with 50,000 inspectors most of the
# teams' time).
popcount = getattr(int, "bit_count", _popcount)


def nth_set_bit(mask, r):
    lo, hi = 0, mask.bit_length() - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if popcount(mask & ((2 << mid) - 1)) > r:
            hi = mid
        else:
            lo = mid + 1
    return lo


def draw_teams(seed, plan, ents, inspectors, conflicts, recent):
    """Each pick: the lowest-workload eligible inspectors not yet on the team, sorted by id,
    index = SHA-256(seed || "team" || lp(credit_code) || uint32be(k)) mod their count.
    Inspectors are bits of integers (bit n = n-th inspector by id) so a pick costs a few
    big-integer operations, not a pass over every inspector."""
    t = plan["teams"]
    size, cap = t["size"], t["workload_cap"]
    start, end = plan["window"]["start"], plan["window"]["end"]
    insps = sorted(inspectors, key=lambda i: i["inspector_id"])
    ids = [i["inspector_id"] for i in insps]
    index = {iid: n for n, iid in enumerate(ids)}
    ok = 0
    by_kind: dict[str, int] = {}  # expertise -> bit set of inspectors
    for n, insp in enumerate(insps):
        if static_rule(insp, start, end) is None:
            ok |= 1 << n
            for kind in insp["expertise"]:
                by_kind[kind] = by_kind.get(kind, 0) | 1 << n
    excluded: dict[str, int] = {}  # credit_code -> bit set of recused inspectors
    pairs = set(conflicts) | (set(recent) if t["recuse_recent_rounds"] > 0 else set())
    for iid, code in pairs:
        if iid in index:
            excluded[code] = excluded.get(code, 0) | 1 << index[iid]
    pools = {}
    levels = [(1 << len(insps)) - 1]
    loads = [0] * len(insps)
    teams = {}
    for ent in ents:
        code = ent["credit_code"]
        key = (tuple(ent["cert_kinds"]) if t["expertise_required"] else (),
               ent["division_code"] if t["recuse_same_division"] else "")  # fmt: skip
        if key not in pools:
            mask = ok
            if t["expertise_required"]:
                mask = 0
                for kind in ent["cert_kinds"]:
                    mask |= by_kind.get(kind, 0)
            if t["recuse_same_division"]:
                for n, insp in enumerate(insps):
                    if ent["division_code"].startswith(division_prefix(insp["division_code"])):
                        mask &= ~(1 << n)
            pools[key] = mask
        avail = pools[key] & ~excluded.get(code, 0)
        chosen = []
        for k in range(size):
            for w in range(min(cap, len(levels))):
                cand = levels[w] & avail
                if cand:
                    h = int.from_bytes(sha(seed + b"team" + lp(code) + k.to_bytes(4, "big")), "big")
                    n = nth_set_bit(cand, h % popcount(cand))
                    chosen.append(n)
                    avail &= ~(1 << n)
                    break
            else:
                counts: dict[str, int] = {}
                for n, insp in enumerate(insps):
                    rule = elimination(insp, ent, plan, conflicts, recent, loads[n])
                    if rule:
                        counts[rule] = counts.get(rule, 0) + 1
                names = list(RULES)
                worst = max(names, key=lambda r: (counts.get(r, 0), -names.index(r)))
                parts = ", ".join(f"{counts[r]} {RULES[r]}" for r in names if counts.get(r))
                have = len(insps) - sum(counts.values())
                raise Infeasible(
                    f"{code}: needs {size} inspectors, {have} eligible "
                    f"({parts or 'no inspectors in the frame'}); rule eliminating the most: "
                    f"'{worst}' ({RULES[worst]}); shortfall {size - have}",
                    {"reason": "infeasible", "credit_code": code, "team_size": size,
                     "eligible": have, "shortfall": size - have, "rule": worst,
                     "eliminated": {r: counts[r] for r in names if counts.get(r)}},
                )  # fmt: skip
        for n in chosen:
            levels[loads[n]] &= ~(1 << n)
            loads[n] += 1
            if loads[n] == len(levels):
                levels.append(0)
            levels[loads[n]] |= 1 << n
        teams[code] = [ids[n] for n in chosen]
    return teams, {ids[n]: loads[n] for n in range(len(insps)) if loads[n]}


# ---------------------------------------------------------------- replacements (§14)
CAUSES = ("conflict", "unavailable", "left")
ROUND_WIDE = ("unavailable", "left")  # kept off every later pick of the round, not one team
KEPT_OFF = "on the team, or withdrawn from it or from the round"


class NoReplacement(ValueError):
    """No inspector is left to take the seat: the replacement is refused (§14)."""


class TeamsNow:
    """The draw's teams and workloads with the replacements so far applied (§14 "State"), and
    who is kept off later picks: off_team[credit_code] (withdrawn from that team, any cause)
    and off_round (withdrawn as unavailable or left)."""

    def __init__(self, teams, workloads):
        self.teams = {code: list(team) for code, team in teams.items()}
        self.workloads = dict(workloads)
        self.off_team = {}
        self.off_round = set()
        self.count = 0

    def apply(self, entry):
        """Seat ``entry``'s replacement (a replacements.json entry) in place of the withdrawn."""
        code, gone, new = entry["credit_code"], entry["withdrawn"], entry["replacement"]
        self.teams[code][entry["position"]] = new
        self.workloads[gone] -= 1
        if not self.workloads[gone]:
            del self.workloads[gone]  # workloads list only inspectors on a team (§10)
        self.workloads[new] = self.workloads.get(new, 0) + 1
        self.off_team.setdefault(code, set()).add(gone)
        if entry["cause"] in ROUND_WIDE:
            self.off_round.add(gone)
        self.count += 1


def replace_ticket(seed, code, position, n):
    """The integer that picks the ``n``-th replacement of the round, for seat ``position``:
    SHA-256(seed || "replace" || lp(credit_code) || uint32be(position) || uint32be(n))."""
    data = seed + b"replace" + lp(code) + position.to_bytes(4, "big") + n.to_bytes(4, "big")
    return int.from_bytes(sha(data), "big")


def withdrawal_problem(now, entry):
    """What keeps ``entry`` from being the round's next withdrawal as the teams stand, or None."""
    if entry["n"] != now.count + 1:
        return f"number {entry['n']}, expected {now.count + 1}"
    if entry["cause"] not in CAUSES:
        return f"unknown cause {entry['cause']!r} (known: {', '.join(CAUSES)})"
    code, gone, seat = entry["credit_code"], entry["withdrawn"], entry["position"]
    team = now.teams.get(code)
    if team is None:
        return f"{code} has no team in this round"
    if gone not in team:
        return f"{gone} is not on the team of {code} ({', '.join(team)} as it stands)"
    if seat < 0 or seat >= len(team) or team[seat] != gone:
        return f"{gone} is at position {team.index(gone)} of the team of {code}, not {seat}"
    return None


def pick_replacement(seed, plan, ent, inspectors, conflicts, recent, now, entry, order=None):
    """The inspector who takes the seat ``entry`` withdraws from (§14): among the inspectors no
    rule of §9 eliminates for ``ent`` (the workload cap with the workloads as they stand), not
    on its team now, never withdrawn from it, not withdrawn from the round and not the one
    leaving, those with the lowest workload, sorted by ``order`` (the pseudonym of an id in a
    version 2 auditor bundle: §12.4 sorts levels by pseudonym; else the name itself), at index
    R mod their count. NoReplacement, naming what kept each inspector off, if none is left.
    A plain pass over the inspectors: a replacement is rare, a draw's picks are not."""
    code = ent["credit_code"]
    kept_off = set(now.teams[code]) | now.off_team.get(code, set()) | now.off_round
    kept_off.add(entry["withdrawn"])
    counts: dict[str, int] = {}  # rule (or "team") -> inspectors it keeps off
    eligible = []
    for insp in inspectors:
        name = insp["inspector_id"]
        load = now.workloads.get(name, 0)
        if name in kept_off:
            rule = "team"
        else:
            rule = elimination(insp, ent, plan, conflicts, recent, load)
        if rule:
            counts[rule] = counts.get(rule, 0) + 1
        else:
            eligible.append((load, name))
    if not eligible:
        texts = {"team": KEPT_OFF, **RULES}
        parts = ", ".join(f"{counts[r]} {texts[r]}" for r in texts if counts.get(r))
        raise NoReplacement(
            f"{code}: no inspector left to take position {entry['position']} of "
            f"{entry['withdrawn']} ({parts or 'no inspectors in the frame'})"
        )
    lowest = min(load for load, _ in eligible)
    level = sorted((name for load, name in eligible if load == lowest), key=order)
    return level[replace_ticket(seed, code, entry["position"], entry["n"]) % len(level)]


def replay_replacements(seed, plan, ents, inspectors, conflicts, recent, teams, workloads,
                        entries, order=None, say=None):  # fmt: skip
    """The draw's ``teams`` and ``workloads`` with ``entries`` (replacements.json's, in order)
    redone one by one (§14); ``ents``: credit_code -> the enterprise as the rules read it. The
    TeamsNow after the last; Mismatch naming the first entry that is not the rules' pick."""
    now = TeamsNow(teams, workloads)
    for n, entry in enumerate(entries, 1):
        where = f"replacements.json: replacement {n}"
        shape(entry, "replacements.json entry", where)
        problem = withdrawal_problem(now, entry)
        if problem:
            raise Mismatch(f"{where}: {problem}")
        code, seat = entry["credit_code"], entry["position"]
        try:
            pick = pick_replacement(seed, plan, ents[code], inspectors, conflicts, recent, now,
                                    entry, order)  # fmt: skip
        except NoReplacement as exc:
            raise Mismatch(f"{where}: the rules refuse it: {exc}") from None
        if entry["replacement"] != pick:
            raise Mismatch(f"{where}: {code} position {seat}: recorded "
                           f"{entry['replacement']}, the rules give {pick}")  # fmt: skip
        now.apply(entry)
        if say:
            say(f"replacement {n} ok: {code} position {seat}: {entry['withdrawn']} -> {pick} "
                f"({entry['cause']}); team now {', '.join(now.teams[code])}")  # fmt: skip
    return now


# ---------------------------------------------------------------- the whole draw
def reference_draw(round_key, plan, enterprises, inspectors, conflicts, recent, entropy,
                   version=1, pseudonym_key=b"", on_seed=None):  # fmt: skip
    """The draw from plain JSON values; returns the shape of DrawResult.to_json().
    ``enterprises``: the frame's rows, or their Frame as read from a bundle (read_frame).
    ``on_seed(seed_hex)`` is called as soon as the seed is known (a verifier compares it)."""
    frame = as_frame(enterprises)
    insps = sorted(inspectors, key=lambda i: i["inspector_id"])
    conflicts = {tuple(p) for p in conflicts}
    recent = {tuple(p) for p in recent}
    frame_size, frame_commitment, frame_root = frame.digests
    irows = [inspector_row(i) for i in insps]
    com = {
        "plan_hash": hashlib.sha256(canonical(plan)).hexdigest(),
        "frame_commitment": frame_commitment,
        "frame_root": frame_root,
        "frame_size": frame_size,
        "inspector_commitment": commitment(irows),
        "inspector_root": merkle_root_iter(irows).hex(),
        "inspector_size": len(irows),
        "constraints_commitment": constraints_commitment(conflicts, recent),
    }
    public = None
    if version >= 2:
        names, rows, recused = public_view(
            version, round_key, plan, insps, conflicts, recent, pseudonym_key
        )
        com["public_inspector_commitment"] = commitment([public_row(r) for r in rows])
        com["public_inspector_size"] = len(rows)
        com["public_recused_commitment"] = recused_commitment(recused)
        public = (com["public_inspector_commitment"], com["public_recused_commitment"])
    seed = derive_seed(
        round_key,
        com["plan_hash"],
        com["frame_commitment"],
        com["inspector_commitment"],
        com["constraints_commitment"],
        entropy,
        version,
        public,
    )
    if on_seed:
        on_seed(seed.hex())
    strata, selected, order = select_all(seed, plan, frame)
    if version >= 2:  # §12: the same picks with every inspector under its pseudonym
        back = {p: i for i, p in names.items()}
        renamed = [dict(i, inspector_id=names[i["inspector_id"]]) for i in insps]
        teams, loads = draw_teams(
            seed, plan, order, renamed, {(names[a], b) for a, b in conflicts if a in names},
            {(names[a], b) for a, b in recent if a in names},
        )  # fmt: skip
        teams = {code: [back[p] for p in team] for code, team in teams.items()}
        loads = {back[p]: n for p, n in loads.items()}
    else:
        teams, loads = draw_teams(seed, plan, order, insps, conflicts, recent)
    return {
        "round_key": round_key,
        "seed": seed.hex(),
        "commitments": com,
        "strata": strata,
        "selected": selected,
        "teams": teams,
        "workloads": loads,
    }


def public_draw(round_key, plan, enterprises, rows, recused, entropy, version, stated,
                on_seed=None):  # fmt: skip
    """The draw as the public can redo it: inspectors are the pseudonymous ``rows`` and
    ``recused`` pairs; ``stated`` gives the commitments to what the public does not see (the
    inspector frame with identities and the constraints), taken as round.json states them."""
    frame = as_frame(enterprises)
    frame_size, frame_commitment, frame_root = frame.digests
    com = {
        "plan_hash": hashlib.sha256(canonical(plan)).hexdigest(),
        "frame_commitment": frame_commitment,
        "frame_root": frame_root,
        "frame_size": frame_size,
        "public_inspector_commitment": commitment([public_row(r) for r in rows]),
        "public_inspector_size": len(rows),
        "public_recused_commitment": recused_commitment(recused),
    }
    public = (com["public_inspector_commitment"], com["public_recused_commitment"])
    seed = derive_seed(
        round_key,
        com["plan_hash"],
        com["frame_commitment"],
        stated["inspector_commitment"],
        stated["constraints_commitment"],
        entropy,
        version,
        public if version >= 2 else None,
    )
    if on_seed:
        on_seed(seed.hex())
    strata, selected, order = select_all(seed, plan, frame)
    insps = [as_inspector(r) for r in sorted(rows, key=lambda r: r["pseudonym"])]
    teams, loads = draw_teams(seed, plan, order, insps, {tuple(p) for p in recused}, set())
    return {
        "round_key": round_key,
        "seed": seed.hex(),
        "commitments": com,
        "strata": strata,
        "selected": selected,
        "teams": teams,
        "workloads": loads,
    }


class Frame:
    """The enterprise frame as the selection and the teams read it (§6-§9), held compactly (a
    frame can hold millions of units). Of each unit only its credit_code, as lp(credit_code)
    (the bytes its ticket hashes after the seed) in one buffer per status and stratum, and its
    facts (risk_class, division_code, cert_kinds): a tuple that units with the same facts may
    share. The strata are counted as the units are added. ``digests``: the frame's (size,
    commitment, Merkle root), set by whoever hashed its rows."""

    def __init__(self):
        self.tally = {}  # stratum -> {"random": n, "targeted": n, "excluded": n}
        self.pools = {}  # (status, stratum) -> (lp(credit_code) of each unit, their facts)
        self.digests = None

    @classmethod
    def of(cls, units):
        """The Frame of ``units``: frame rows (dicts), in the frame's order."""
        frame = cls()
        for e in units:
            frame.add(e["credit_code"], e["stratum"], e["status"],
                      (e["risk_class"], e["division_code"], e["cert_kinds"]))  # fmt: skip
        return frame

    def add(self, code, stratum, status, facts):
        if stratum not in self.tally:
            self.tally[stratum] = {"random": 0, "targeted": 0, "excluded": 0}
        self.tally[stratum][status] += 1
        if status != "excluded":  # an excluded unit is only counted
            codes, kept = self.pools.setdefault((status, stratum), (bytearray(), []))
            codes.extend(lp(code))
            kept.append(facts)

    def units(self, status, stratum):
        """(credit_code, facts) of each unit of ``status`` in ``stratum``, as they were added."""
        codes, kept = self.pools.get((status, stratum), (b"", []))
        at = 0
        for facts in kept:
            end = at + 4 + int.from_bytes(codes[at : at + 4], "big")
            yield codes[at + 4 : end].decode(), facts
            at = end


def as_frame(enterprises):
    """The Frame of ``enterprises`` with its digests: frame rows (dicts, in any order) are
    sorted by credit_code and hashed; a Frame already read (read_frame) is taken as it is."""
    if isinstance(enterprises, Frame):
        return enterprises
    ents = sorted(enterprises, key=lambda e: e["credit_code"])
    frame = Frame.of(ents)
    frame.digests = frame_digests(ents)
    return frame


def select_all(seed, plan, ents):
    """Strata counts, the selection list (§7-§8) and the teams' processing order (§9).
    ``ents``: the frame's units (dicts), or their Frame. The order gives each selected unit as
    {credit_code, risk_class, division_code, cert_kinds}, what the teams read."""
    frame = ents if isinstance(ents, Frame) else Frame.of(ents)
    tally = frame.tally
    labels = sorted(tally)
    st = plan["strata"]
    quotas = {
        s: quota(stratum_rate(plan, s), tally[s]["random"], st["min_per_stratum"]) for s in labels
    }
    drawn = trim(quotas, st["total_cap"])
    selected, facts = [], {}  # facts: credit_code -> facts, of each selected unit
    targeted = []
    for s in labels:
        for c, f in frame.units("targeted", s):
            targeted.append((ticket(seed, c), c, s))
            facts[c] = f
    targeted.sort()  # by ticket, then credit_code
    for rank, (t, c, s) in enumerate(targeted, 1):
        selected.append(
            {"credit_code": c, "stratum": s, "kind": "targeted", "ticket": t.hex(), "rank": rank}
        )
    w = st["weights"]
    for s in labels:
        units = ((ticket(seed, c), c, f) for c, f in frame.units("random", s))
        weight: dict = {}  # risk_class -> weight, of the stratum's units (§7)
        if w is not None:
            weight = {f[0]: w.get(f[0], w.get("*")) for _, f in frame.units("random", s)}
        key = None if w is None else weighted_key(weight)  # None: by ticket, then credit_code
        # The first drawn[s] units in that order: heapq.nsmallest(k, units, key) is
        # sorted(units, key=key)[:k] holding only k units at a time. The two pick the same
        # units when the order is total (credit codes differ; weights are integers >= 1) and
        # k >= 0, as a plan makes them (§4); anything else is sorted whole, as it always was.
        if drawn[s] >= 0 and all(type(x) is int and x >= 1 for x in weight.values()):
            first = heapq.nsmallest(drawn[s], units, key)
        else:
            first = sorted(units, key=key)[: drawn[s]]
        for rank, (t, c, f) in enumerate(first, 1):
            selected.append(
                {"credit_code": c, "stratum": s, "kind": "random", "ticket": t.hex(), "rank": rank}
            )
            facts[c] = f
    processing = sorted(selected, key=lambda x: (x["ticket"], x["credit_code"]))
    order = []
    for x in processing:
        risk, division, kinds = facts[x["credit_code"]]
        order.append({"credit_code": x["credit_code"], "risk_class": risk,
                      "division_code": division, "cert_kinds": kinds})  # fmt: skip
    strata = [
        {
            "stratum": s,
            "rate": str(stratum_rate(plan, s)),
            "eligible": tally[s]["random"],
            "targeted": tally[s]["targeted"],
            "excluded": tally[s]["excluded"],
            "quota": quotas[s],
            "drawn": drawn[s],
        }
        for s in labels
    ]
    return strata, selected, order


# ---------------------------------------------------------------- reading the bundle
def _no_float(text):
    raise ValueError("floats are not allowed: " + text)


def _pairs(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError("duplicate key " + repr(k))
        out[sys.intern(k)] = v  # one copy of each field name, not one per line of a frame
    return out


def parse(text, where):
    try:
        value = json.loads(
            text, parse_float=_no_float, parse_constant=_no_float, object_pairs_hook=_pairs
        )
    except ValueError as exc:
        raise Mismatch(f"{where}: not valid JSON ({exc})") from None
    try:
        ok = canonical(value) == text.encode("utf-8")
    except TypeError as exc:
        raise Mismatch(f"{where}: {exc}") from None
    if not ok:
        raise Mismatch(where + ": not in canonical JSON form")
    return value


def open_regular(bundle, name):
    """The bundle's file ``name`` opened for reading once it is seen to be a regular file (a
    symlink is followed to one): a FIFO made open() wait for ever, and a symlink to /dev/zero
    was read until memory ran out. A file missing is the OSError open() raises."""
    path = os.path.join(bundle, name)
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a device")  # fmt: skip
        raise Mismatch(f"{name}: not a regular file ({kind})")
    return open(path, "rb")


def read(bundle, name):
    try:
        with open_regular(bundle, name) as f:
            data = f.read()
        return data.decode("utf-8")
    except OSError as exc:
        raise Mismatch(f"{name}: cannot read ({exc})") from None
    except UnicodeDecodeError as exc:
        raise Mismatch(f"{name}: not UTF-8 ({exc})") from None


def read_json(bundle, name):
    text = read(bundle, name)
    if name != "plan.json":
        if not text.endswith("\n"):
            raise Mismatch(name + ": must end with one newline")
        text = text[:-1]
    return parse(text, name)


def read_jsonl(bundle, name, key):
    """The rows of a JSON-lines file, each parsed, canonical, of its documented shape, in
    strictly ascending ``key`` order. Read line by line (a frame can hold millions of rows),
    each value that repeats down a column held once; a bad file is read again whole, so that
    the first problem is named exactly as a whole reading names it."""
    try:
        return _stream_jsonl(bundle, name, key)
    except (OSError, UnicodeDecodeError, Mismatch):
        return _read_jsonl_whole(bundle, name, key)


def _stream_jsonl(bundle, name, key):
    rows: list = []
    shared: dict = {}
    with open_regular(bundle, name) as f:
        for n, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                raise Mismatch(name + ": must end with a newline")
            where = f"{name}: line {n}"
            row = shape(parse(line[:-1].decode("utf-8"), where), name, where)
            if rows and not rows[-1][key] < row[key]:
                raise Mismatch(f"{name}: line {n} is not in strictly ascending {key} order")
            for field, value in row.items():
                if field == key:
                    continue
                if type(value) is list and all(type(v) is str for v in value):
                    row[field] = shared.setdefault(tuple(value), value)  # read, never changed
                elif type(value) is str:
                    row[field] = shared.setdefault(value, value)
            rows.append(row)
    return rows


def read_frame(bundle, plan):
    """frame-enterprises.jsonl as a Frame with its digests, read in one pass that holds no row
    (a frame can hold millions): each line canonical JSON of the documented shape, in strictly
    ascending credit_code order, inside the plan's population and its stratum. At the first
    line that is not exactly so, or any other problem, the pass stops and the file is read the
    plain way (read_jsonl, check_frame_scope, then frame_digests, every row held), so that the
    first problem is named exactly as that reading names it."""
    try:
        frame = Frame()
        frame.digests = frame_digests(_frame_units(bundle, plan, frame))
        return frame
    except Exception:  # whatever it is, the plain reading below names it
        pass
    ents = read_jsonl(bundle, "frame-enterprises.jsonl", "credit_code")
    check_frame_scope(plan, ents)
    return as_frame(ents)


def _frame_units(bundle, plan, frame):
    """Each unit of frame-enterprises.jsonl once it passed every check, added to ``frame``.
    A line is canonical if canonical() gives back its text; with nothing but strings in it
    (a number stops the pass: the plain reading judges it), json.loads without hooks and one
    comparison tell (duplicate keys, escapes or spaces make the texts differ)."""
    name = "frame-enterprises.jsonl"
    pop = plan["population"]
    known: dict = {}  # (status, stratum, risk_class, division_code, cert_kinds) -> scope_problem
    shared: dict = {}  # (risk_class, division_code, cert_kinds) -> the facts of units with them
    last = None
    with open_regular(bundle, name) as f:
        for n, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                raise Mismatch(name + ": must end with a newline")
            text = line[:-1].decode("utf-8")
            e = shape(json.loads(text), name, f"{name}: line {n}")
            kinds = e["cert_kinds"]
            if not all(type(k) is str for k in kinds) or CANONICAL_JSON.encode(e) != text:
                raise Mismatch(f"{name}: line {n} is not canonical JSON of strings")
            code = e["credit_code"]
            if last is not None and not last < code:
                raise Mismatch(f"{name}: line {n} is not in strictly ascending credit_code order")
            last = code
            key = (e["status"], e["stratum"], e["risk_class"], e["division_code"], tuple(kinds))
            if key not in known:
                known[key] = scope_problem(plan, pop, e)
            if known[key]:
                raise Mismatch(f"{name}: line {n} ({code}){known[key]}")
            facts = shared.setdefault(key[2:], (e["risk_class"], e["division_code"], kinds))
            frame.add(code, e["stratum"], e["status"], facts)
            yield e


def _read_jsonl_whole(bundle, name, key):
    text = read(bundle, name)
    if text and not text.endswith("\n"):
        raise Mismatch(name + ": must end with a newline")
    rows = [
        shape(parse(line, f"{name}: line {n}"), name, f"{name}: line {n}")
        for n, line in enumerate(text.split("\n")[:-1], 1)
    ]
    for n in range(1, len(rows)):
        if not rows[n - 1][key] < rows[n][key]:
            raise Mismatch(f"{name}: line {n + 1} is not in strictly ascending {key} order")
    return rows


SHAPES: dict = {
    "round.json": {
        "v": int,
        "round_key": str,
        "seed": str,
        "entropy_digest": str,
        "commitments": dict,
        "strata": list,
        "meta": dict,
    },
    "round.json commitments": {
        "plan_hash": str,
        "frame_commitment": str,
        "frame_root": str,
        "frame_size": int,
        "inspector_commitment": str,
        "inspector_root": str,
        "inspector_size": int,
        "constraints_commitment": str,
    },
    "constraints.json": {"conflicts": list, "recent": list},
    "selection.json": {"selected": list},
    "teams.json": {"teams": dict, "workloads": dict},
    "frame-enterprises.jsonl": {
        "credit_code": str,
        "division_code": str,
        "risk_class": str,
        "cert_kinds": list,
        "stratum": str,
        "status": str,
        "note": str,
    },
    "pseudonyms.json": {"key": str},
    "replacements.json": {"replacements": list},
    "replacements.json entry": {
        "n": int,
        "credit_code": str,
        "position": int,
        "withdrawn": str,
        "replacement": str,
        "cause": str,
    },
    "failure.json": {
        "reason": str,
        "credit_code": str,
        "team_size": int,
        "eligible": int,
        "shortfall": int,
        "rule": str,
        "eliminated": dict,
        "message": str,
    },
    "recused-public.json": {"recused": list},
    "frame-inspectors-public.jsonl": {
        "pseudonym": str,
        "division_code": str,
        "available": bool,
        "expertise": list,
    },
    "frame-inspectors.jsonl": {
        "inspector_id": str,
        "division_code": str,
        "expertise": list,
        "unit": str,
        "active": bool,
        "credential_from": str,
        "credential_until": str,
        "leaves": list,
    },
}


def shape(doc, kind, where):
    """Exactly the documented fields, with the documented JSON types."""
    fields = SHAPES[kind]
    if not isinstance(doc, dict) or set(doc) != set(fields):
        got = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise Mismatch(f"{where}: fields must be {sorted(fields)}, found {got}")
    for key, typ in fields.items():
        if type(doc[key]) is not typ:
            raise Mismatch(f"{where}: field {key} must be {typ.__name__}")
    return doc


def expect(where, got, want):
    if got != want:
        raise Mismatch(f"{where}: recomputed {want}, bundle says {got}")


def check_frame_scope(plan, ents):
    pop = plan["population"]
    for n, e in enumerate(ents, 1):
        problem = scope_problem(plan, pop, e)
        if problem:
            raise Mismatch(f"frame-enterprises.jsonl: line {n} ({e['credit_code']}){problem}")


def scope_problem(plan, pop, e):
    """What puts frame unit ``e`` outside the plan's population ``pop`` or outside its stratum
    (§3, §4), said as check_frame_scope says it after the line; None if nothing does."""
    if e["status"] not in ("random", "targeted", "excluded"):
        return ": unknown status " + repr(e["status"])
    label = stratum_label(plan, e["division_code"], e["risk_class"])
    if e["stratum"] != label:
        return f" stratum: recomputed {label}, bundle says {e['stratum']}"
    if not e["cert_kinds"] or not set(e["cert_kinds"]) <= set(pop["cert_kinds"]):
        return ": cert_kinds outside the plan's population"
    if not any(e["division_code"].startswith(p) for p in pop["divisions"]):
        return ": division outside the plan's population"
    if pop["directed"] and pop["risk_classes"] and e["risk_class"] not in pop["risk_classes"]:
        return ": risk class outside the plan's directed population"
    return None


def compare_list(name, got, want):
    for n, (g, w) in enumerate(zip(got, want, strict=False)):
        for field in w:
            if g.get(field) != w[field]:
                raise Mismatch(f"{name}: entry {n + 1} {field} {g.get(field)} expected {w[field]}")
        if set(g) != set(w):
            raise Mismatch(f"{name}: entry {n + 1} has fields {sorted(g)}")
    if len(got) != len(want):
        raise Mismatch(f"{name}: {len(got)} entries, expected {len(want)}")


def bundle_kind(rnd):
    """(version, audience) of a bundle, from round.json; the files it must hold."""
    version, audience = rnd.get("v"), rnd.get("audience", "auditor")
    if version not in (1, 2) or audience not in ("auditor", "public"):
        raise Mismatch(f"round.json: unknown bundle kind v={version!r} audience={audience!r}")
    if rnd.get("outcome", "failed") != "failed":
        raise Mismatch('round.json: outcome must be "failed" when present')
    if "outcome" in rnd:
        if audience == "public":
            return version, audience, FAILED_FILES_PUBLIC
        return version, audience, (FAILED_FILES if version == 1 else FAILED_FILES_AUDITOR_V2)
    if audience == "public":
        return version, audience, FILES_PUBLIC
    return version, audience, (FILES if version == 1 else FILES_AUDITOR_V2)


def with_replacements(bundle, files):
    """``files`` and, when MANIFEST.sha256 lists it and the round was drawn, replacements.json
    right after teams.json (§14). The manifest itself is checked last, by check_manifest."""
    try:
        with open_regular(bundle, "MANIFEST.sha256") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return files
    listed = re.findall(r"^[0-9a-f]{64}  ([A-Za-z0-9._-]+)$", text, re.M)
    if REPLACEMENTS not in listed or "teams.json" not in files:
        return files  # a failed round's bundle listing one: check_manifest refuses it
    at = files.index("teams.json") + 1
    return files[:at] + (REPLACEMENTS,) + files[at:]


def team_facts(frame, codes):
    """credit_code -> the enterprise as §9's rules read it, for each of ``codes`` (the selected
    enterprises), from the frame as it was read."""
    facts = {}
    for status, stratum in frame.pools:
        for code, (risk, division, kinds) in frame.units(status, stratum):
            if code in codes:
                facts[code] = {"credit_code": code, "risk_class": risk,
                               "division_code": division, "cert_kinds": kinds}  # fmt: skip
    return facts


def check_replacements(bundle, rnd, plan, want, facts, pool, say):
    """replacements.json (§14): every replacement redone from the draw's teams and workloads,
    on the inspectors, constraints and level order of this bundle (``pool``)."""
    stage(REPLACEMENTS)
    doc = shape(read_json(bundle, REPLACEMENTS), REPLACEMENTS, REPLACEMENTS)
    if not doc["replacements"]:
        raise Mismatch("replacements.json: no replacement listed (a round without one has no "
                       "replacements.json)")  # fmt: skip
    inspectors, conflicts, recent, order = pool
    now = replay_replacements(bytes.fromhex(rnd["seed"]), plan, facts, inspectors, conflicts,
                              recent, want["teams"], want["workloads"], doc["replacements"],
                              order, say)  # fmt: skip
    changed = sum(team != want["teams"][code] for code, team in now.teams.items())
    say(f"replacements: {now.count} ok, {changed} teams changed (teams.json keeps the draw's "
        "teams; each changed team as it stands is given above)")  # fmt: skip


def read_round(bundle):
    rnd = read_json(bundle, "round.json")
    if not isinstance(rnd, dict):
        raise Mismatch("round.json: must be an object")
    version, audience, files = bundle_kind(rnd)
    fields = dict(SHAPES["round.json"])
    if "audience" in rnd or version >= 2:  # version 1 auditor bundles predate the field
        fields["audience"] = str
    if "outcome" in rnd:  # a failed round's bundle
        fields["outcome"] = str
    SHAPES["round.json (this bundle)"] = fields
    shape(rnd, "round.json (this bundle)", "round.json")
    fields = dict(SHAPES["round.json commitments"])
    if version >= 2 or audience == "public":
        fields.update(dict.fromkeys(PUBLIC_COMMITMENTS, str), public_inspector_size=int)
    SHAPES["commitments (this bundle)"] = fields
    com = shape(rnd["commitments"], "commitments (this bundle)", "round.json commitments")
    return rnd, com, version, audience, files


def verify(bundle, say=print):
    stage("plan.json")
    plan_text = read(bundle, "plan.json")
    plan = parse(plan_text, "plan.json")
    stage("round.json")
    rnd, com, version, audience, files = read_round(bundle)
    files = with_replacements(bundle, files)
    say(f"bundle: draw version {version}, {audience} bundle")
    expect(
        "plan.json: plan hash (round.json plan_hash)",
        com["plan_hash"],
        hashlib.sha256(plan_text.encode()).hexdigest(),
    )
    say("plan hash ok ({})".format(com["plan_hash"]))
    stage("frame-enterprises.jsonl")
    frame = read_frame(bundle, plan)
    size, frame_commitment, frame_root = frame.digests
    expect("frame-enterprises.jsonl: size (round.json frame_size)", com["frame_size"], size)
    expect(
        "frame-enterprises.jsonl: commitment (round.json frame_commitment)",
        com["frame_commitment"],
        frame_commitment,
    )
    expect(
        "frame-enterprises.jsonl: Merkle root (round.json frame_root)",
        com["frame_root"],
        frame_root,
    )
    say(f"frame: {size:,} enterprises, commitment ok, Merkle root ok")

    def seed_ok(seed):
        expect("round.json: seed (from round_key, the commitments and entropy.json)",
               rnd["seed"], seed)  # fmt: skip
        say(f"seed ok ({seed})")

    failed = "outcome" in rnd
    try:
        if audience == "public":
            want, pool = verify_public_inputs(bundle, rnd, com, plan, frame, version, say,
                                              seed_ok)  # fmt: skip
        else:
            want, pool = verify_auditor_inputs(bundle, rnd, com, plan, frame, version, say,
                                               seed_ok)  # fmt: skip
    except Infeasible as exc:
        if not failed:
            raise Mismatch(f"teams.json: the constraints are infeasible: {exc}") from None
        return confirm_failure(bundle, rnd, plan, frame, files, exc, say)
    facts = team_facts(frame, want["teams"]) if REPLACEMENTS in files else {}
    del frame  # drawn: its units are no longer needed, and selection.json is read next
    if failed:
        raise Mismatch(
            "failure.json: the round is said to fail, but the recomputed draw completes "
            "({:,} enterprises selected, every team found)".format(len(want["selected"]))
        )
    compare_list("round.json strata", rnd["strata"], want["strata"])
    say(f"strata: {len(want['strata'])}, counts ok")
    stage("selection.json")
    sel = shape(read_json(bundle, "selection.json"), "selection.json", "selection.json")
    compare_list("selection.json", sel["selected"], want["selected"])
    say("selection: {:,} enterprises ok".format(len(want["selected"])))
    stage("teams.json")
    tms = shape(read_json(bundle, "teams.json"), "teams.json", "teams.json")
    for code, team in want["teams"].items():
        expect("teams.json: team of " + code, tms["teams"].get(code), team)
    if set(tms["teams"]) != set(want["teams"]):
        raise Mismatch(
            "teams.json: teams for {} not drawn".format(
                sorted(set(tms["teams"]) - set(want["teams"]))
            )
        )
    expect("teams.json: workloads", tms["workloads"], want["workloads"])
    if audience == "public":
        say(
            "teams: {:,} teams ok, workloads ok, on pseudonyms (availability, expertise, "
            "same-division and declared/recent recusals, workload cap)".format(len(want["teams"]))
        )
    else:
        say("teams: {:,} teams ok, workloads ok".format(len(want["teams"])))
    if REPLACEMENTS in files:
        check_replacements(bundle, rnd, plan, want, facts, pool, say)
    manifest_ok(bundle, files, say)
    return None


def confirm_failure(bundle, rnd, plan, frame, files, exc, say):
    """The recomputed draw failed: its strata and its failure must be the ones claimed."""
    stage("round.json strata")
    strata, _, _ = select_all(bytes.fromhex(rnd["seed"]), plan, frame)
    compare_list("round.json strata", rnd["strata"], strata)
    say(f"strata: {len(strata)}, counts ok")
    stage("failure.json")
    claim = shape(read_json(bundle, "failure.json"), "failure.json", "failure.json")
    for field in SHAPES["failure.json"]:
        expect("failure.json: " + field, claim[field], exc.facts[field])
    say("failure ok: the recomputed draw fails exactly as failure.json states")
    manifest_ok(bundle, files, say)
    return exc.facts["message"]


def read_entropy(bundle, rnd, say):
    stage("entropy.json")
    entropy = read_json(bundle, "entropy.json")
    if not isinstance(entropy, list):
        raise Mismatch("entropy.json: must be a list of records")
    for n, rec in enumerate(entropy):
        problem = entropy_problem(rec) if isinstance(rec, dict) else "not an object"
        if problem:
            raise Mismatch(f"entropy.json: record {n}: {problem}")
        say(f"entropy record {n} ({rec['source']}) ok")
    expect(
        "entropy.json: SHA-256 of the records (round.json entropy_digest)",
        rnd["entropy_digest"],
        hashlib.sha256(canonical(entropy)).hexdigest(),
    )
    plan = rnd["meta"].get("entropy_plan")
    if isinstance(plan, dict) and isinstance(plan.get("sources"), list):
        if not all(isinstance(spec, dict) for spec in plan["sources"]):
            raise Mismatch("round.json: meta.entropy_plan.sources must be a list of objects")
        problem = unnamed_entropy(plan["sources"], entropy)
        if problem:
            raise Mismatch(f"entropy.json: {problem} (round.json meta.entropy_plan; §5.1)")
        say("entropy records: one of each source named at commitment, in the order named")
    else:  # a bundle written before round.json carried the sources named
        say("entropy records: round.json names no sources (meta.entropy_plan): compare "
            "entropy.json with commitment.json's entropy_sources yourself")  # fmt: skip
    return entropy


def unnamed_entropy(named, records):
    """What of ``records`` the commitment did not name in ``named``, or "" (§5.1): one record
    of each source named, in the order named; a beacon's round, url and chain as named,
    witness digits at least as many as named, partner checkpoints after the moment named, of
    the partners named. Each record's own check cannot see a record nobody named: a
    commit-reveal secret chosen once the witness digits were known passes it."""
    kinds = ", ".join(str(spec.get("source")) for spec in named) or "none"
    if len(records) != len(named):
        took = ", ".join(str(rec.get("source")) for rec in records) or "none"
        return (f"{len(records)} entropy record(s) ({took}) where the commitment named "
                f"{len(named)} source(s) ({kinds})")  # fmt: skip
    for n, (spec, rec) in enumerate(zip(named, records, strict=True)):
        source = spec.get("source")
        if rec.get("source") != source:
            return f"entropy record {n} is {rec.get('source')!r}, the commitment named {source!r}"
        keys = {"beacon": ("url", "chain_hash", "round"), "partner-checkpoints": ("after",)}
        if source == "partner-checkpoints":
            partners = [c.get("partner") for c in rec.get("checkpoints") or []]
            if partners != list(spec.get("partners") or []):
                return (f"entropy record {n} (partner-checkpoints): partners {partners}, the "
                        f"commitment named {list(spec.get('partners') or [])}")  # fmt: skip
        for key in keys.get(source, ()):
            if rec.get(key) != spec.get(key):
                return (f"entropy record {n} ({source}): {key} {rec.get(key)!r}, the "
                        f"commitment named {spec.get(key)!r}")  # fmt: skip
        if source == "witness-digits" and len(str(rec.get("digits", ""))) < spec.get(
            "min_digits", 0
        ):
            return (f"entropy record {n} (witness-digits): fewer digits than the "
                    f"{spec['min_digits']} named")  # fmt: skip
    return ""


def verify_auditor_inputs(bundle, rnd, com, plan, frame, version, say, seed_ok):
    """The inspector frame with identities, the constraints and (v2) the pseudonym key."""
    stage("frame-inspectors.jsonl")
    insps = read_jsonl(bundle, "frame-inspectors.jsonl", "inspector_id")
    rows = [inspector_row(i) for i in insps]
    expect(
        "frame-inspectors.jsonl: size (round.json inspector_size)", com["inspector_size"], len(rows)
    )
    expect(
        "frame-inspectors.jsonl: commitment (round.json inspector_commitment)",
        com["inspector_commitment"],
        commitment(rows),
    )
    expect(
        "frame-inspectors.jsonl: Merkle root (round.json inspector_root)",
        com["inspector_root"],
        merkle_root_iter(rows).hex(),
    )
    say(f"inspectors: {len(rows):,} inspectors, commitment ok, Merkle root ok")
    stage("constraints.json")
    cons = shape(read_json(bundle, "constraints.json"), "constraints.json", "constraints.json")
    expect(
        "constraints.json: commitment (round.json constraints_commitment)",
        com["constraints_commitment"],
        constraints_commitment(cons["conflicts"], cons["recent"]),
    )
    say(
        f"constraints: {len(cons['conflicts'])} conflicts, "
        f"{len(cons['recent'])} recent pairs, commitment ok"
    )
    key, order = b"", None
    if version >= 2:
        stage("pseudonyms.json")
        doc = shape(read_json(bundle, "pseudonyms.json"), "pseudonyms.json", "pseudonyms.json")
        if not re.match(r"^[0-9a-f]{32,128}$", doc["key"]):
            raise Mismatch("pseudonyms.json: key must be 16 to 64 bytes in lowercase hex")
        key = bytes.fromhex(doc["key"])
        names, prows, recused = public_view(version, rnd["round_key"], plan, insps,
                                            cons["conflicts"], cons["recent"], key)  # fmt: skip
        order = names.get  # §14 sorts each level by pseudonym, as §12.4 draws the teams
        view = {"public_inspector_commitment": commitment([public_row(r) for r in prows]),
                "public_inspector_size": len(prows),
                "public_recused_commitment": recused_commitment(recused)}  # fmt: skip
        for name in PUBLIC_COMMITMENTS:
            expect(f"pseudonyms.json: public view ({name})", com[name], view[name])
        say(
            f"pseudonyms: {len(insps):,} derived from the round's key; public view commitments "
            "ok (the public bundle of this round must show the same seed)"
        )
    entropy = read_entropy(bundle, rnd, say)
    stage("the recomputed draw (round.json, frames, constraints, entropy)")
    want = reference_draw(rnd["round_key"], plan, frame, insps, cons["conflicts"],
                          cons["recent"], entropy, version, key, seed_ok)  # fmt: skip
    conflicts = {tuple(p) for p in cons["conflicts"]}
    recent = {tuple(p) for p in cons["recent"]}
    return want, (insps, conflicts, recent, order)  # what a replacement's pick reads (§14)


def verify_public_inputs(bundle, rnd, com, plan, frame, version, say, seed_ok):
    """Pseudonymous inspectors and recusals; what the public cannot see is taken as stated."""
    stage("frame-inspectors-public.jsonl")
    rows = read_jsonl(bundle, "frame-inspectors-public.jsonl", "pseudonym")
    expect(
        "frame-inspectors-public.jsonl: size (round.json public_inspector_size)",
        com["public_inspector_size"],
        len(rows),
    )
    expect(
        "frame-inspectors-public.jsonl: commitment (round.json public_inspector_commitment)",
        com["public_inspector_commitment"],
        commitment([public_row(r) for r in rows]),
    )
    for n, r in enumerate(rows, 1):
        if r["expertise"] != sorted(set(r["expertise"])):
            raise Mismatch(f"frame-inspectors-public.jsonl: line {n} expertise not sorted")
    stage("recused-public.json")
    doc = shape(read_json(bundle, "recused-public.json"), "recused-public.json",
                "recused-public.json")  # fmt: skip
    names = {r["pseudonym"] for r in rows}
    pairs = doc["recused"]
    for n, pair in enumerate(pairs, 1):
        if not (isinstance(pair, list) and len(pair) == 2 and pair[0] in names):
            raise Mismatch(f"recused-public.json: entry {n} is not [pseudonym, credit_code]")
        if n > 1 and not pairs[n - 2] < pair:
            raise Mismatch(f"recused-public.json: entry {n} is not in strictly ascending order")
    expect(
        "recused-public.json: commitment (round.json public_recused_commitment)",
        com["public_recused_commitment"],
        recused_commitment(pairs),
    )
    if version >= 2:
        bound = "bound to the seed"
    else:
        bound = ("NOT bound to the seed in draw version 1 (its match with the committed "
                 "inspector frame is for auditors to check with the full bundle)")  # fmt: skip
    say(f"inspectors: {len(rows):,} under pseudonyms, {sum(r['available'] for r in rows):,} "
        f"available in the window, commitment ok; {len(pairs)} recusals, commitment ok; "
        f"{bound}")  # fmt: skip
    say("not shown (taken as round.json states them, checked by auditors): inspector frame "
        f"{com['inspector_commitment']}, constraints {com['constraints_commitment']}")  # fmt: skip
    entropy = read_entropy(bundle, rnd, say)
    stage("the recomputed draw (round.json, frames, recusals, entropy)")
    want = public_draw(rnd["round_key"], plan, frame, rows, pairs, entropy, version, com,
                       seed_ok)  # fmt: skip
    insps = [as_inspector(r) for r in rows]  # rows are in pseudonym order
    return want, (insps, {tuple(p) for p in pairs}, set(), None)


def manifest_ok(bundle, files, say):
    stage("MANIFEST.sha256")
    check_manifest(bundle, files)
    say(f"MANIFEST.sha256: {len(files)} files ok, nothing unlisted")
    for name, (_folder, said) in BESIDE.items():
        if os.path.exists(os.path.join(bundle, name)):  # of its kind: check_unlisted saw it
            say(said)


def check_manifest(bundle, files=FILES):
    lines = read(bundle, "MANIFEST.sha256").split("\n")
    if lines[-1] != "":
        raise Mismatch("MANIFEST.sha256: must end with a newline")
    listed = {}
    for n, line in enumerate(lines[:-1], 1):
        m = re.match(r"^([0-9a-f]{64})  ([A-Za-z0-9._-]+)$", line)
        if not m:
            raise Mismatch(f"MANIFEST.sha256: line {n} malformed")
        listed[m.group(2)] = m.group(1)
    for name in files:
        if name not in listed:
            raise Mismatch(f"MANIFEST.sha256: {name} not listed")
        h = hashlib.sha256()
        with open_regular(bundle, name) as f:
            while block := f.read(1 << 20):  # in blocks: a frame file can be gigabytes
                h.update(block)
        digest = h.hexdigest()
        if digest != listed[name]:
            raise Mismatch(
                f"{name}: SHA-256 {digest} differs from MANIFEST.sha256 ({listed[name]})"
            )
    extra = sorted(set(listed) - set(files))
    if extra:
        raise Mismatch(f"MANIFEST.sha256: unexpected file {extra[0]}")
    if REPLACEMENTS in files:  # §14: right after teams.json, where with_replacements read it
        names = list(listed)
        if names.index(REPLACEMENTS) != names.index("teams.json") + 1:
            raise Mismatch("MANIFEST.sha256: replacements.json must be listed right after "
                           "teams.json")  # fmt: skip
    check_unlisted(bundle, files)


def check_unlisted(bundle, files):
    """Nothing in the bundle's folder but the files checked and MANIFEST.sha256 (§10): a file
    or folder put beside them (a teams-v2.json, notes.txt) was never checked, so it is named
    rather than passed over in silence. The exceptions are BESIDE, each of its own kind."""
    for name in sorted(os.listdir(bundle)):
        folder = os.path.isdir(os.path.join(bundle, name))
        if name in files or name == "MANIFEST.sha256" or BESIDE.get(name, (None,))[0] == folder:
            continue
        shown = name + "/" if folder else name
        raise Mismatch(f"MANIFEST.sha256: {shown} is in the bundle but not listed")


def main(argv):
    if len(argv) != 2:
        print("usage: python3 -I -S verify.py BUNDLE_DIR")
        return 2
    try:
        failure = verify(argv[1])
    except Mismatch as exc:
        print(f"FAIL: {exc}")
        return 1
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        print(f"FAIL: {STAGE[0]}: malformed ({type(exc).__name__}: {exc})")
        return 1
    if failure is not None:
        print(f"OK: confirmed: the round fails: {failure}")
        return 0
    print(f"OK: the draw in {argv[1]} is reproduced exactly")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
