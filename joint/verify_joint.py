#!/usr/bin/env python3
"""verify_joint.py: check a shuangsui joint round from its bundle, standard library only.

Usage: python3 -I -S verify_joint.py BUNDLE_DIR

Checks, in order, and names the first thing that fails: the manifest, and that the folder
holds nothing it does not list (but a file manager's files, FILE_MANAGER); the joint plan; each
participant's signed commitment (Ed25519, by the key the bundle names: compare it with the
partner directory); the lead's enterprise frame and every bureau's inspector frame and
conflicts against the commitments; every reveal (signature, and that H(nonce) opens the
commitment); then the outcome: for a drawn round the seed, strata, selection, each bureau's
teams and workloads; for a failed round, that the failure is the one the rule fixes
(docs/draw-algorithm.md §13); last each bureau's signed replacements, if any (§13.7): in
order of n, each bureau's own seat, the member sitting there, and the pick, redone; then the
teams as they stand. It reuses the draw's reference code in the bundle's verify.py.
"""

import base64
import hashlib
import importlib.util
import json
import os
import re
import stat
import sys
from typing import Any


class Mismatch(Exception):
    pass


V: Any = None  # the bundle's verify.py, loaded once the manifest has checked it
CONTEXT = b"shuangsui-joint-v1\n"
# What may lie in a joint bundle's folder unlisted, said but not read: the files a file
# manager writes into a folder it shows (macOS Finder, Windows Explorer). Nothing else is
# written beside a joint bundle: it is on no public page and has no classification bundle.
FILE_MANAGER = (".DS_Store", "Thumbs.db", "desktop.ini")
AT = ["(start)"]  # the file being checked, named when an unexpected error occurs
MAX_DEPTH = 32  # a bundle's JSON is a few levels deep: deeper is refused before it is walked
SAID = 300  # a failure line is cut there: it may quote what the bundle holds (50 MB of it)

# What the statements' fields must be, as joint.protocol has it (tests/joint/
# test_verify_joint_hostile.py holds the copies equal): FIELD_TYPES, the fields of one JSON
# type; KIND_FIELDS, the fields each kind of statement in a bundle has (TYPES); LEAD_FIELDS,
# the lead's commitment's besides. Checked before anything compares, hashes or quotes them.
FIELD_TYPES = {
    "type": str, "joint": str, "joint_plan_hash": str, "bureau": str,
    "n": int, "credit_code": str, "position": int, "withdrawn": str, "replacement": str,
    "cause": str,
    # a commitment's (and the lead's frame's), and the commitment a reveal opens
    "nonce_commitment": str, "inspector_commitment": str, "inspector_root": str,
    "inspector_size": int, "constraints_commitment": str, "plan_hash": str,
    "frame_commitment": str, "frame_root": str, "frame_size": int, "commit": str,
}  # fmt: skip
COMMON = {"v", "type", "joint", "joint_plan_hash", "bureau"}
KIND_FIELDS = {
    "joint-commit": COMMON | {"nonce_commitment", "inspector_commitment", "inspector_root",
                              "inspector_size", "constraints_commitment"},
    "joint-reveal": COMMON | {"commit", "nonce"},
    "joint-replacement": COMMON | {"n", "credit_code", "position", "withdrawn", "replacement",
                                   "cause"},
}  # fmt: skip
LEAD_FIELDS = ("plan_hash", "frame_commitment", "frame_root", "frame_size")
OUTCOME_TYPES = {"outcome": str, "seed": str, "strata": list, "selected": list, "teams": dict,
                 "workloads": dict, "failure": dict}  # fmt: skip
NEEDED = {str: "a string", int: "an integer", list: "a list", dict: "an object"}
CODE = re.compile(r"[0-9]{6}")


def read(bundle, name):
    """The bytes of the bundle's file ``name``, once it is seen to be a regular file (a symlink
    is followed): a FIFO hung the verifier for ever, a symlink to /dev/zero was read until
    memory ran out, a file missing was Python's FileNotFoundError under another file's name."""
    path = os.path.join(bundle, name)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        said = "" if name == "MANIFEST.sha256" else " (its manifest lists it)"
        raise Mismatch(f"{name}: not in the bundle{said}") from None
    if not stat.S_ISREG(mode):
        kind = ("a folder" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "a device")  # fmt: skip
        raise Mismatch(f"{name}: not a regular file ({kind})")
    with open(path, "rb") as f:
        return f.read()


def shown(value):
    """A value the bundle holds, as a failure line quotes it: a short plain text as it is,
    anything else as its repr, cut at 40 characters."""
    if isinstance(value, str) and len(value) <= 40 and value.isprintable():
        return value
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def no_float(text):
    raise ValueError("a number with a fraction or exponent: " + shown(text))


def once_each(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise ValueError("the key " + shown(key) + " given twice")
        out[key] = value
    return out


def too_deep(doc):
    """Whether ``doc`` nests lists and objects deeper than MAX_DEPTH (walked without
    recursion: the checks after recurse)."""
    todo = [(doc, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                return True
            todo.extend(
                (v, depth + 1) for v in (value.values() if isinstance(value, dict) else value)
            )
    return False


def load_json(bundle, name):
    """The JSON document in ``name``, or Mismatch naming the file and what is wrong: not
    UTF-8, not JSON (a float, a key twice), nested deeper than MAX_DEPTH."""
    AT[0] = name
    data = read(bundle, name)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Mismatch(f"{name}: not UTF-8 (byte {exc.start})") from None
    try:
        doc = json.loads(text, parse_float=no_float, parse_constant=no_float,
                         object_pairs_hook=once_each)  # fmt: skip
    except RecursionError:
        raise Mismatch(f"{name}: JSON nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise Mismatch(f"{name}: not valid JSON ({exc})") from None
    if too_deep(doc):
        raise Mismatch(f"{name}: JSON nested deeper than {MAX_DEPTH} levels")
    return doc


def typed(value, kind, where):
    """``value`` if of JSON type ``kind`` (a boolean is no integer); Mismatch naming ``where``."""
    if not isinstance(value, kind) or isinstance(value, bool):
        raise Mismatch(f"{where}: {NEEDED[kind]} is needed")
    return value


def check_manifest(bundle, names):
    AT[0] = "MANIFEST.sha256"
    try:
        lines = read(bundle, "MANIFEST.sha256").decode("utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise Mismatch(f"MANIFEST.sha256: not UTF-8 (byte {exc.start})") from None
    listed = {}
    for line in lines[:-1]:
        digest, _, name = line.partition("  ")
        listed[name] = digest
    if list(listed) != names or lines[-1] != "":
        raise Mismatch("MANIFEST.sha256: expected exactly " + ", ".join(names))
    for name in names:
        if hashlib.sha256(read(bundle, name)).hexdigest() != listed[name]:
            raise Mismatch(f"{name}: SHA-256 differs from MANIFEST.sha256")
    check_unlisted(bundle, names)


def check_unlisted(bundle, names):
    """Nothing in the bundle's folder but its files and MANIFEST.sha256 (docs/draw-algorithm.md
    §13.6): a file or folder put beside them (an outcome-v2.json, notes.txt) was never
    checked, so it is named rather than passed over in silence. FILE_MANAGER's files excepted."""
    for name in sorted(os.listdir(bundle)):
        folder = os.path.isdir(os.path.join(bundle, name))
        if name in names or name == "MANIFEST.sha256" or (name in FILE_MANAGER and not folder):
            continue
        shown = name + "/" if folder else name
        raise Mismatch(f"MANIFEST.sha256: {shown} is in the bundle but not listed")


def manifest_ok(bundle, names, say):
    """Check the manifest and what the folder holds; say so, and name each file let be."""
    check_manifest(bundle, names)
    say(f"MANIFEST.sha256: {len(names)} files ok, nothing unlisted")
    for name in FILE_MANAGER:
        if os.path.isfile(os.path.join(bundle, name)):
            say(f"{name}: written by a file manager, not part of the bundle, not read")


def files_of(plan):
    names = ["joint-plan.json", "statements.json", "frame-enterprises.jsonl"]
    for p in plan["participants"]:
        names += ["inspectors-" + p["bureau"] + ".jsonl", "conflicts-" + p["bureau"] + ".json"]
    return names + ["outcome.json", "verify.py", "verify_joint.py"]


def load_verify(bundle):
    global V
    sys.dont_write_bytecode = True  # its __pycache__/ would be a folder the manifest does not list
    path = os.path.join(bundle, "verify.py")
    spec: Any = importlib.util.spec_from_file_location("bundle_verify", path)
    V = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(V)
    V.no_float = V._no_float


def statement_hash(st):
    return hashlib.sha256(V.canonical(st)).hexdigest()


def base64_of(value):
    """The bytes of a base64 text (None if it is not one)."""
    try:
        return base64.b64decode(value, validate=True) if isinstance(value, str) else None
    except ValueError:  # not base64, or not ASCII
        return None


def open_envelope(env, kind, bureau, where):
    """The statement of a signed envelope of ``kind`` by ``bureau``: its shape, its fields'
    JSON types (FIELD_TYPES) and those its kind needs (KIND_FIELDS), checked before its key
    and its signature, as joint.protocol.open_envelope checks them."""
    if not isinstance(env, dict) or set(env) != {"statement", "vkey", "signature"}:
        raise Mismatch(f"{where}: not a signed {kind} (exactly statement, vkey and signature)")
    st = typed(env["statement"], dict, f"{where}: statement")
    for field, kind_of in FIELD_TYPES.items():
        if field in st:
            typed(st[field], kind_of, f"{where}: statement.{field}")
    if st.get("type") != kind or st.get("v") != 1:
        raise Mismatch(f"{where}: not a signed {kind}")
    missing = sorted(KIND_FIELDS[kind] - set(st))
    if missing:
        raise Mismatch(f"{where}: statement.{missing[0]}: required for a {kind}")
    if st["bureau"] != bureau:
        raise Mismatch(f"{where}: statement of {shown(st['bureau'])}, expected {bureau}")
    vkey = env["vkey"]
    if not isinstance(vkey, str) or vkey.count("+") < 2:
        raise Mismatch(f"{where}: vkey: {shown(vkey)} is not a verifier key (name+hash+key)")
    name, kid, b64 = vkey.split("+", 2)
    blob = base64_of(b64) or b""
    if name != "shuangsui." + bureau or blob[:1] != b"\x01" or len(blob) != 33:
        raise Mismatch(f"{where}: key {shown(vkey)} is not an Ed25519 key of shuangsui.{bureau}")
    if hashlib.sha256(name.encode() + b"\n" + blob).digest()[:4].hex() != kid:
        raise Mismatch(f"{where}: key hash of {shown(vkey)} does not match")
    sig = base64_of(env["signature"])
    if sig is None or len(sig) != 64:
        raise Mismatch(f"{where}: signature: the base64 of 64 bytes is needed")
    if not V.ed25519_verify(blob[1:], CONTEXT + V.canonical(st), sig):
        raise Mismatch(f"{where}: the Ed25519 signature of {bureau} does not verify")
    return st


def is_nonce(value):
    """Whether ``value`` is 32 bytes in hex, as joint.protocol.nonce_commitment reads it."""
    try:
        return isinstance(value, str) and len(bytes.fromhex(value)) == 32
    except ValueError:
        return False


def nonce_commitment(joint, bureau, nonce_hex):
    nonce = bytes.fromhex(nonce_hex)
    if len(nonce) != 32:
        raise ValueError("nonce of 32 bytes needed")
    return hashlib.sha256(
        V.lp("shuangsui-joint-nonce") + V.lp(joint) + V.lp(bureau) + nonce
    ).hexdigest()


def read_jsonl(bundle, name, key, kind):
    """Rows of a JSON-lines frame, each exactly of the draw's shape, ascending by ``key``."""
    AT[0] = name
    try:
        text = read(bundle, name).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Mismatch(f"{name}: not UTF-8 (byte {exc.start})") from None
    if text and not text.endswith("\n"):
        raise Mismatch(name + ": must end with a newline")
    rows = [
        V.shape(V.parse(line, f"{name}: line {n}"), kind, f"{name}: line {n}")
        for n, line in enumerate(text.split("\n")[:-1], 1)
    ]
    for n in range(1, len(rows)):
        if not rows[n - 1][key] < rows[n][key]:
            raise Mismatch(f"{name}: line {n + 1} is not in strictly ascending {key} order")
    return rows


def frame_facts(rows):
    return {
        "commitment": V.commitment(rows),
        "root": V.merkle_root_iter(rows).hex(),
        "size": len(rows),
    }


def check_frames(bundle, plan, commits, say):
    """Enterprise frame (lead) and every bureau's inspectors and conflicts vs its commitment."""
    rnd = plan["round"]
    ents = read_jsonl(bundle, "frame-enterprises.jsonl", "credit_code", "frame-enterprises.jsonl")
    lead = commits.get(plan["lead"])
    if lead is not None:
        V.expect(
            "lead's commitment plan_hash",
            lead["plan_hash"],
            hashlib.sha256(V.canonical(rnd)).hexdigest(),
        )
        V.check_frame_scope(rnd, ents)
        f = frame_facts([V.enterprise_row(e) for e in ents])
        for field in ("commitment", "root", "size"):
            V.expect(
                f"frame-enterprises.jsonl: frame_{field} (signed by the lead)",
                lead["frame_" + field],
                f[field],
            )
        say(f"enterprise frame: {len(ents)} units, commitment {f['commitment'][:16]}… as signed")
    frames = {}
    for p in plan["participants"]:
        b = p["bureau"]
        insps = read_jsonl(
            bundle, f"inspectors-{b}.jsonl", "inspector_id", "frame-inspectors.jsonl"
        )
        conflicts = {tuple(x) for x in load_json(bundle, f"conflicts-{b}.json")["conflicts"]}
        frames[b] = (insps, conflicts)
        c = commits.get(b)
        if c is None:
            continue
        f = frame_facts([V.inspector_row(i) for i in insps])
        for field in ("commitment", "root", "size"):
            V.expect(
                f"inspectors-{b}.jsonl: inspector_{field} (signed by {b})",
                c["inspector_" + field],
                f[field],
            )
        V.expect(
            f"conflicts-{b}.json: constraints_commitment (signed by {b})",
            c["constraints_commitment"],
            V.constraints_commitment(conflicts, set()),
        )
        say(f"bureau {b}: {len(insps)} inspectors, commitment {f['commitment'][:16]}… as signed")
    return ents, frames


def team_seed(seed, bureau):
    return V.sha(V.lp("shuangsui-joint-team") + seed + V.lp(bureau))


def redo(plan, seed, ents, frames):
    """The outcome the statements give, and the processing order (each selected unit as the
    team rules read it, which a replacement's pick reads too)."""
    rnd = plan["round"]
    strata, selected, order = V.select_all(seed, rnd, sorted(ents, key=lambda e: e["credit_code"]))
    teams: dict[str, list] = {e["credit_code"]: [] for e in order}
    workloads = {}
    for p in plan["participants"]:
        b = p["bureau"]
        sub = dict(rnd, teams=dict(rnd["teams"], size=p["inspectors"]))
        insps, conflicts = frames[b]
        try:
            picked, loads = V.draw_teams(team_seed(seed, b), sub, order, insps, conflicts, set())
        except V.Infeasible as exc:
            return {
                "failure": {
                    "reason": "infeasible",
                    "bureaus": [b],
                    "message": str(exc),
                    "seed": seed.hex(),
                }
            }, order
        for code, team in picked.items():
            teams[code] += [[b, i] for i in team]
        workloads[b] = loads
    return {
        "seed": seed.hex(),
        "strata": strata,
        "selected": selected,
        "teams": teams,
        "workloads": workloads,
    }, order


# ---------------------------------------------------------------- replacements (§13.7)
REPLACEMENT_FIELDS = {"v", "type", "joint", "joint_plan_hash", "bureau", "n", "credit_code",
                      "position", "withdrawn", "replacement", "cause"}  # fmt: skip


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def check_seat(where, st, k, b, teams, seats, part):
    """The k-th replacement of bureau b names its next number, one of b's own seats, and the
    member sitting there as b's part of the team stands; Mismatch naming the field if not."""
    if not is_int(st["n"]) or st["n"] != k:
        raise Mismatch(f"{where}: n: {st['n']!r}, expected {k} (each bureau's in order)")
    if st["cause"] not in V.CAUSES:
        raise Mismatch(f"{where}: cause: {st['cause']!r} is not one of {', '.join(V.CAUSES)}")
    code, pos = st["credit_code"], st["position"]
    team = teams.get(code) if isinstance(code, str) else None
    if team is None:
        raise Mismatch(f"{where}: credit_code: {code!r} has no team in this joint round")
    if not is_int(pos) or not 0 <= pos < len(team):
        raise Mismatch(f"{where}: position: {pos!r} is not a seat of the team of {code}")
    if team[pos][0] != b:
        raise Mismatch(
            f"{where}: position: seat {pos} of the team of {code} is {team[pos][0]}'s, not {b}'s"
        )
    sitting = part.teams[code][seats[code].index(pos)]
    if st["withdrawn"] != sitting:
        raise Mismatch(
            f"{where}: withdrawn: {st['withdrawn']!r}, but seat {pos} of the team of {code} "
            f"is {sitting}'s as it stands"
        )


def check_replacements(sts, plan, phash, seed, want, frames, order, say):
    """statements.json's "replacements" (§13.7), each bureau's redone in order of n on its own
    part of the round (§14's pick with team_seed(b), b's frame and conflicts, b's members of
    each team and b's workloads; the ticket hashes the seat's place in the whole team).
    Returns the teams as they stand."""
    done = sts["replacements"]
    lists = isinstance(done, dict) and all(isinstance(v, list) and v for v in done.values())
    if not lists or not done:
        raise Mismatch("statements.json: replacements: {bureau: [envelope, …]}, present only "
                       "when a bureau replaced a member")  # fmt: skip
    rnd, teams = plan["round"], want["teams"]
    sizes = {p["bureau"]: p["inspectors"] for p in plan["participants"]}
    ents = {e["credit_code"]: e for e in order}
    now = {code: [list(m) for m in team] for code, team in teams.items()}
    count = 0
    for b, envs in done.items():
        if b not in sizes:
            raise Mismatch(f"statements.json: replacements of {shown(b)}, not a participant")
        seats = {c: [p for p, (b2, _) in enumerate(t) if b2 == b] for c, t in teams.items()}
        part = V.TeamsNow({c: [i for b2, i in t if b2 == b] for c, t in teams.items()},
                          want["workloads"].get(b, {}))  # fmt: skip
        sub = dict(rnd, teams=dict(rnd["teams"], size=sizes[b]))
        insps, conflicts = frames[b]
        for k, env in enumerate(envs, 1):
            where = f"statements.json: replacement {k} of {b}"
            st = open_envelope(env, "joint-replacement", b, where)
            if set(st) != REPLACEMENT_FIELDS:
                raise Mismatch(f"{where}: fields: exactly {', '.join(sorted(REPLACEMENT_FIELDS))}")
            if st["joint"] != plan["joint"] or st["joint_plan_hash"] != phash:
                raise Mismatch(f"{where}: joint_plan_hash: signed for another joint plan")
            check_seat(where, st, k, b, teams, seats, part)
            code, pos = st["credit_code"], st["position"]
            entry = {"n": k, "credit_code": code, "position": pos,
                     "withdrawn": st["withdrawn"], "cause": st["cause"]}  # fmt: skip
            try:
                pick = V.pick_replacement(team_seed(seed, b), sub, ents[code], insps, conflicts,
                                          set(), part, entry)  # fmt: skip
            except V.NoReplacement as exc:
                raise Mismatch(f"{where}: replacement: the rules leave nobody ({exc})") from None
            if st["replacement"] != pick:
                raise Mismatch(
                    f"{where}: replacement: recorded {st['replacement']!r}, the rules give {pick}"
                )
            part.apply(dict(entry, position=seats[code].index(pos), replacement=pick))
            now[code][pos] = [b, pick]
            count += 1
            team_now = ", ".join(f"{b2} {i}" for b2, i in now[code])
            say(f"replacement {k} of {b} ok: {code} position {pos}: {st['withdrawn']} -> "
                f"{pick} ({st['cause']}); team now {team_now}")  # fmt: skip
    changed = sum(now[code] != teams[code] for code in teams)
    say(f"replacements: {count} ok, {changed} teams changed (outcome.json keeps the draw's "
        "teams; each changed team as it stands is given above)")  # fmt: skip
    return now


STATEMENT_KEYS = ("commits", "reveals", "refused", "replacements")


def check_plan(plan):
    """What joint-plan.json must hold before its files can be named: the joint key, the lead,
    the participants (each a bureau code of 6 digits and a number of inspectors), the round
    with its team size, as joint/plan.py reads a plan; the round's other fields are checked
    where the draw's code reads them."""
    where = "joint-plan.json"
    typed(plan, dict, where)
    for key, kind in (("joint", str), ("lead", str), ("participants", list), ("round", dict),
                      ("commit_deadline", str), ("reveal_deadline", str)):  # fmt: skip
        typed(plan.get(key), kind, f"{where}: {key}")
    for n, p in enumerate(plan["participants"]):
        if not (isinstance(p, dict) and isinstance(p.get("bureau"), str)
                and CODE.fullmatch(p["bureau"]) and is_int(p.get("inspectors"))):  # fmt: skip
            raise Mismatch(f"{where}: participants[{n}]: a bureau code of 6 digits and a "
                           "number of inspectors are needed")  # fmt: skip
    teams = plan["round"].get("teams")
    typed(teams.get("size") if isinstance(teams, dict) else None, int, f"{where}: round.teams.size")


def check_statements(sts):
    """statements.json's shape: commits {bureau: [envelope, …]}, reveals {bureau: envelope},
    refused [envelope, …], replacements (checked with them)."""
    where = "statements.json"
    typed(sts, dict, where)
    unknown = sorted(set(sts) - set(STATEMENT_KEYS))
    if unknown:
        raise Mismatch(f"{where}: {shown(unknown[0])}: not a key of statements.json")
    for key, kind in (("commits", dict), ("reveals", dict), ("refused", list)):
        if key not in sts:
            raise Mismatch(f"{where}: {key}: missing")
        typed(sts[key], kind, f"{where}: {key}")
    for b, envs in sts["commits"].items():
        if not isinstance(envs, list) or not envs:
            raise Mismatch(f"{where}: commits: {shown(b)}: a list of signed commitments is needed")


def check_outcome(out):
    """outcome.json's fields of their JSON types (OUTCOME_TYPES), before they are compared."""
    typed(out, dict, "outcome.json")
    for key, kind in OUTCOME_TYPES.items():
        if key in out:
            typed(out[key], kind, f"outcome.json: {key}")
    for n, entry in enumerate(out.get("selected", []), 1):
        typed(entry, dict, f"outcome.json: selected: entry {n}")


def verify(bundle, say=print):
    plan = load_json(bundle, "joint-plan.json")
    check_plan(plan)
    manifest_ok(bundle, files_of(plan), say)
    AT[0] = "joint-plan.json"
    load_verify(bundle)
    if V.canonical(plan) != read(bundle, "joint-plan.json"):
        raise Mismatch("joint-plan.json: not canonical JSON")
    phash = hashlib.sha256(read(bundle, "joint-plan.json")).hexdigest()
    joint, codes = plan["joint"], [p["bureau"] for p in plan["participants"]]
    if codes[0] != plan["lead"] or plan.get("on_withheld") != "withheld-fails":
        raise Mismatch("joint-plan.json: the lead must come first; on_withheld withheld-fails")
    if plan["round"]["teams"]["size"] != sum(p["inspectors"] for p in plan["participants"]):
        raise Mismatch("joint-plan.json: round.teams.size is not the sum of inspectors")
    say(f"joint plan {joint}: hash {phash}, lead {plan['lead']}, participants {', '.join(codes)}")
    sts = load_json(bundle, "statements.json")
    check_statements(sts)
    commits: dict[str, dict] = {}
    two = []
    for b, envs in sts["commits"].items():
        if b not in codes:
            raise Mismatch(f"statements.json: commitment of {shown(b)}, not a participant")
        for n, env in enumerate(envs):
            where = f"statements.json: commitment {n} of {b}"
            st = open_envelope(env, "joint-commit", b, where)
            if st["joint"] != joint or st["joint_plan_hash"] != phash:
                raise Mismatch(f"statements.json: commitment of {b} is for another joint plan")
            missing = [f for f in LEAD_FIELDS if f not in st] if b == plan["lead"] else []
            if missing:
                raise Mismatch(
                    f"{where}: statement.{missing[0]}: required for the lead's joint-commit"
                )
            commits.setdefault(b, st)
        if len(envs) > 1:
            two.append(b)
        say(f"commitment of {b}: signed by {envs[0]['vkey']} (compare with the directory)")
    ents, frames = check_frames(bundle, plan, commits, say)
    nonces = {}
    for b, env in sts["reveals"].items():
        where = f"statements.json: reveal of {shown(b)}"
        st = open_envelope(env, "joint-reveal", b, where)
        c = commits.get(b)
        if c is None or st["commit"] != statement_hash(c):
            raise Mismatch(f"{where}: names no commitment of {shown(b)} held in the bundle")
        if not is_nonce(st["nonce"]):
            raise Mismatch(f"{where}: statement.nonce: 64 hex digits are needed")
        if nonce_commitment(joint, b, st["nonce"]) != c["nonce_commitment"]:
            raise Mismatch(f"{where}: H(nonce) differs from the nonce commitment {b} signed")
        nonces[b] = st["nonce"]
        say(f"reveal of {b}: opens its commitment")
    for n, env in enumerate(sts["refused"], 1):
        st = env.get("statement") if isinstance(env, dict) else None
        b = st.get("bureau") if isinstance(st, dict) else None
        of = f"of {b}" if isinstance(b, str) and CODE.fullmatch(b) else f"{n} (of {shown(b)})"
        open_envelope(env, "joint-reveal", b, f"statements.json: refused reveal {of}")
        say(f"!!! refused reveal of {b}: signed, and does not open its commitment (evidence)")
    out = load_json(bundle, "outcome.json")
    check_outcome(out)
    if two:
        want = {"failure": {"reason": "equivocation", "bureaus": two}}
    elif len(commits) < len(codes):
        want = {
            "failure": {
                "reason": "missing-commitment",
                "bureaus": [b for b in codes if b not in commits],
            }
        }
    elif len(nonces) < len(codes):
        want = {"failure": {"reason": "withheld", "bureaus": [b for b in codes if b not in nonces]}}
    else:
        doc = {
            "v": 1,
            "type": "joint-seed",
            "joint": joint,
            "joint_plan_hash": phash,
            "commits": [statement_hash(commits[b]) for b in codes],
            "nonces": [nonces[b] for b in codes],
        }
        seed = V.sha(V.canonical(doc))
        say(f"seed {seed.hex()} from {len(codes)} commitments and {len(codes)} nonces")
        want, order = redo(plan, seed, ents, frames)
    got = {k: v for k, v in out.items() if k != "outcome"}
    state = "failed" if "failure" in want else "drawn"
    V.expect("outcome.json: outcome", out.get("outcome"), state)
    for key in sorted(set(want) | set(got)):
        if key in ("teams", "workloads"):
            for code in sorted(set(want.get(key, {})) | set(got.get(key, {}))):
                V.expect(
                    f"outcome.json: {key} of {code}",
                    got.get(key, {}).get(code),
                    want[key].get(code),
                )
        elif key == "selected":
            V.compare_list("outcome.json: selected", got.get(key, []), want[key])
        else:
            V.expect(f"outcome.json: {key}", got.get(key), want.get(key))
    if state == "failed":
        f = want["failure"]
        evidence = [
            f"{b}: signed commitment {statement_hash(commits[b])[:16]}…"
            for b in f["bureaus"]
            if b in commits
        ]
        deadline = plan["reveal_deadline"] if f["reason"] == "withheld" else plan["commit_deadline"]
        say(
            f"round failed by the fixed rule: {f['reason']} by {', '.join(f['bureaus'])} "
            f"(deadline {deadline}); {'; '.join(evidence)}"
        )
        if "replacements" in sts:
            raise Mismatch("statements.json: replacements in a failed round (it has no teams)")
        return f
    say(f"selection of {len(want['selected'])} and teams of {len(codes)} bureaus reproduced")
    if "replacements" in sts:
        check_replacements(sts, plan, phash, seed, want, frames, order, say)
    return None


def cut(line):
    """A failure line, cut at SAID characters (it may quote the bundle's text)."""
    return line if len(line) <= SAID else line[:SAID] + "…"


def main(argv):
    if len(argv) != 2:
        print("usage: python3 -I -S verify_joint.py BUNDLE_DIR")
        return 2
    try:
        failure = verify(argv[1])
    except Mismatch as exc:
        print(f"FAIL: {cut(str(exc))}")
        return 1
    except Exception as exc:  # the draw verifier's Mismatch, and malformed input
        said = f"{AT[0]}: malformed ({type(exc).__name__}: {exc})"
        print("FAIL: " + cut(str(exc) if type(exc).__name__ == "Mismatch" else said))
        return 1
    if failure:
        print(
            f"OK: confirmed: the joint round fails: {failure['reason']} "
            f"({', '.join(failure['bureaus'])})"
        )
        return 0
    print(f"OK: the joint round in {argv[1]} is reproduced exactly")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
