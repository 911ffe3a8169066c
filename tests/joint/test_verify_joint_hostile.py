"""verify_joint.py reads a hostile joint bundle: a statement with a field of the wrong JSON type,
a field missing, a signature or key that is no base64 of a key, statements.json or
outcome.json of the wrong shape, JSON nested deep, a file of 50 MB, a file not UTF-8. Each
ends in one failure line naming the file and the field, exit 1, no traceback, nothing of the
bundle quoted at length.

Its reader was never tried with them: a list where a key belongs, a number where a text
belongs, ended in ``FAIL: malformed (AttributeError) 'list' object has no attribute 'items'``
or ``(KeyError) 'commits'``, naming neither the file nor the field, and a commitment kept
under a key of 50 MB quoted it whole. Now the envelope's shape and its fields' JSON types
(``FIELD_TYPES``, the fields each kind needs, a copy of ``joint.protocol``'s: the last test
holds the two equal) are checked before its key and signature, as
``joint.protocol.open_envelope`` checks them; every statement case is signed again by the
bureau's real key, so the type check is what is reached, not the signature."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from joint import protocol, service, verify_joint
from joint.bundle import write_bundle
from joint.protocol import sign_statement
from tests.joint.test_protocol import Trio, trio  # noqa: F401  (fixture)
from tests.joint.world import NAMES

FJ, SH, ZJ = "350000", "310000", "330000"
JOINT = "jt-hostile"
MB50 = 50 * 1024 * 1024


def _run(bundle: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["python3", "-I", "-S", str(bundle / "verify_joint.py"), str(bundle)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def _with(good: Path, dst: Path, name: str, data: bytes) -> Path:
    """A copy of the bundle with ``name`` holding ``data``, its manifest line made to match."""
    shutil.copytree(good, dst)
    (dst / name).write_bytes(data)
    lines = (dst / "MANIFEST.sha256").read_text(encoding="utf-8").splitlines()
    digest = hashlib.sha256(data).hexdigest()
    fixed = [f"{digest}  {name}" if ln.endswith(f"  {name}") else ln for ln in lines]
    (dst / "MANIFEST.sha256").write_text("\n".join(fixed) + "\n", encoding="utf-8")
    return dst


def _json(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_a_hostile_bundle_ends_in_one_line_naming_the_file_and_field(
    trio: Trio,  # noqa: F811
    tmp_path: Path,
) -> None:
    trio.commit(JOINT)
    for code in NAMES:
        trio.reveal(code, JOINT)
    row = service.draw(trio.b[FJ].engine, trio.me[FJ], JOINT)
    assert row.status == "drawn" and row.outcome
    good = tmp_path / "good"
    write_bundle(trio.b[FJ].engine, JOINT, good)
    ok = _run(good)
    assert ok.returncode == 0, ok.stdout
    statements = json.loads((good / "statements.json").read_bytes())
    code, team = sorted(row.outcome["teams"].items())[0]

    def signed(st: dict[str, Any], by: str = SH) -> dict[str, Any]:
        key = trio.b[by].key
        return sign_statement(st, key.origin, key.private)

    def reveal(**change: Any) -> dict[str, Any]:
        return statements["reveals"][SH]["statement"] | change

    def commit(**change: Any) -> dict[str, Any]:
        return statements["commits"][SH][0]["statement"] | change

    replacement = {
        "v": 1, "type": "joint-replacement", "joint": JOINT,
        "joint_plan_hash": commit()["joint_plan_hash"], "bureau": SH, "n": "1",
        "credit_code": code, "position": 1, "withdrawn": team[1][1], "replacement": "x",
        "cause": "left",
    }  # fmt: skip
    no_nonce = reveal()
    del no_nonce["nonce"]
    sig = statements["reveals"][SH]["signature"]
    deep: Any = "x"
    for _ in range(40):
        deep = [deep]

    def sts(change: Callable[[dict[str, Any]], object]) -> bytes:
        doc = json.loads(_json(statements))
        change(doc)
        return _json(doc) + b"\n"

    def env_of(field: str, value: Any) -> Callable[[dict[str, Any]], object]:
        return lambda d: d["reveals"][SH].update({field: value})

    where = f"statements.json: reveal of {SH}"
    cases: dict[str, tuple[str, bytes, str]] = {
        "n a string": (
            "statements.json",
            sts(lambda d: d.update(replacements={SH: [signed(replacement)]})),
            f"statements.json: replacement 1 of {SH}: statement.n: an integer is needed",
        ),
        "joint_plan_hash a number": (
            "statements.json",
            sts(lambda d: d["commits"][SH].__setitem__(0, signed(commit(joint_plan_hash=7)))),
            f"statements.json: commitment 0 of {SH}: statement.joint_plan_hash: a string is needed",
        ),
        "a size a string": (
            "statements.json",
            sts(lambda d: d["commits"][SH].__setitem__(0, signed(commit(inspector_size="12")))),
            f"statements.json: commitment 0 of {SH}: statement.inspector_size: an integer is "
            "needed",
        ),
        "bureau a list": (
            "statements.json",
            sts(lambda d: d["reveals"].update({SH: signed(reveal(bureau=[SH]))})),
            f"{where}: statement.bureau: a string is needed",
        ),
        "a refused reveal's bureau a list": (
            "statements.json",
            sts(lambda d: d["refused"].append(signed(reveal(bureau=[SH])))),
            f"statements.json: refused reveal 1 (of ['{SH}']): statement.bureau: a string is "
            "needed",
        ),
        "a field missing": (
            "statements.json",
            sts(lambda d: d["reveals"].update({SH: signed(no_nonce)})),
            f"{where}: statement.nonce: required for a joint-reveal",
        ),
        "the nonce a number": (
            "statements.json",
            sts(lambda d: d["reveals"].update({SH: signed(reveal(nonce=7))})),
            f"{where}: statement.nonce: 64 hex digits are needed",
        ),
        "the signature in hex": (
            "statements.json",
            sts(env_of("signature", base64.b64decode(sig).hex())),
            f"{where}: signature: the base64 of 64 bytes is needed",
        ),
        "the signature not base64": (
            "statements.json",
            sts(env_of("signature", "!" + sig[1:])),
            f"{where}: signature: the base64 of 64 bytes is needed",
        ),
        "the signature a number": (
            "statements.json",
            sts(env_of("signature", 12)),
            f"{where}: signature: the base64 of 64 bytes is needed",
        ),
        "the key a list": (
            "statements.json",
            sts(env_of("vkey", ["shuangsui.310000"])),
            f"{where}: vkey: ['shuangsui.310000'] is not a verifier key (name+hash+key)",
        ),
        "an envelope a text": (
            "statements.json",
            sts(lambda d: d["reveals"].update({SH: "signed"})),
            f"{where}: not a signed joint-reveal (exactly statement, vkey and signature)",
        ),
        "commits a list": (
            "statements.json",
            sts(lambda d: d.update(commits=[])),
            "statements.json: commits: an object is needed",
        ),
        "reveals missing": (
            "statements.json",
            sts(lambda d: d.pop("reveals")),
            "statements.json: reveals: missing",
        ),
        "selected an object": (
            "outcome.json",
            _json(row.outcome | {"outcome": "drawn", "selected": {"rank": 1}}) + b"\n",
            "outcome.json: selected: a list is needed",
        ),
        "teams a list": (
            "outcome.json",
            _json(row.outcome | {"outcome": "drawn", "teams": []}) + b"\n",
            "outcome.json: teams: an object is needed",
        ),
        "JSON nested deep in a signed statement": (
            "statements.json",
            sts(lambda d: d["reveals"].update({SH: signed(reveal(commit=deep))})),
            "statements.json: JSON nested deeper than 32 levels",
        ),
        "JSON nested 100,000 deep": (
            "statements.json",
            b"[" * 100_000 + b"]" * 100_000 + b"\n",
            "statements.json: JSON nested deeper than 32 levels",
        ),
        "a signed nonce of 50 MB": (
            "statements.json",
            sts(lambda d: d["reveals"].update({SH: signed(reveal(nonce="ab" * (MB50 // 2)))})),
            f"{where}: statement.nonce: 64 hex digits are needed",
        ),
        "a bureau of 50 MB": (
            "statements.json",
            sts(lambda d: d["commits"].update({"3" * MB50: d["commits"][SH]})),
            f"statements.json: commitment of '{'3' * 39}…, not a participant",
        ),
        "statements.json not UTF-8": (
            "statements.json",
            (good / "statements.json").read_bytes().replace(b'"refused":[]', b'"refused":["\xff"]'),
            "statements.json: not UTF-8 (byte ",
        ),
        "joint-plan.json not UTF-8": (
            "joint-plan.json",
            (good / "joint-plan.json").read_bytes().replace(JOINT.encode(), b"jt-\xc0\xaf"),
            "joint-plan.json: not UTF-8 (byte ",
        ),
        "a participant a text": (
            "joint-plan.json",
            (good / "joint-plan.json")
            .read_bytes()
            .replace(b'{"bureau":"310000","inspectors":1}', b'"310000"'),  # fmt: skip
            "joint-plan.json: participants[1]: a bureau code of 6 digits and a number of "
            "inspectors are needed",
        ),
    }
    assert b'"refused":[]' in (good / "statements.json").read_bytes()
    wrong = {}  # each case's last line where it is not the one expected
    for n, (what, (name, data, expected)) in enumerate(cases.items()):
        assert data != (good / name).read_bytes(), what
        proc = _run(_with(good, tmp_path / f"case-{n}", name, data))
        last = (proc.stdout.splitlines() or [""])[-1]
        short = len(proc.stdout) < 5000  # nothing of the bundle quoted at length
        if not (proc.returncode == 1 and proc.stderr == "" and short):
            wrong[what] = (proc.returncode, len(proc.stdout), last[:200], proc.stderr[-300:])
        elif not last.startswith(f"FAIL: {expected}"):
            wrong[what] = (proc.returncode, len(proc.stdout), last[:200], "")
        shutil.rmtree(tmp_path / f"case-{n}")
    assert not wrong, "\n".join(f"{k}: {v}" for k, v in wrong.items())


def test_the_verifiers_table_of_fields_is_the_protocols() -> None:
    """verify_joint.py (standard library only) keeps its own copy of what each field of a
    statement must be: the same as joint.protocol's."""
    assert verify_joint.FIELD_TYPES == protocol.FIELD_TYPES
    kinds = set(protocol.TYPES) - {"joint-finding"}  # findings are not in a bundle
    assert verify_joint.KIND_FIELDS == {k: protocol.TYPES[k] for k in kinds}
    assert verify_joint.LEAD_FIELDS == protocol.LEAD_FIELDS
    assert verify_joint.REPLACEMENT_FIELDS == protocol.TYPES["joint-replacement"]
