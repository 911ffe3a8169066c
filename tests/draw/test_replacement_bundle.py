"""Bundles of a round whose teams changed after the draw (docs/draw-algorithm.md §14): verify.py
redoes every replacement, as an outsider runs it (`python3 -I -S verify.py DIR`), for the
auditor bundles of versions 1 and 2 and the public bundle, and names each tampering."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from draw.bundle import REPLACEMENTS, bundle_files, write_bundle
from draw.canonical import canonical_json
from draw.core import DrawInputs, draw

from .replacing import Replacer, names_of
from .test_bundle import _flip, run_verify
from .vectors import VECTOR_DIR, inputs_from_json
from .vectors_v2 import KEY

KINDS = {"auditor-v1": (1, "auditor"), "auditor-v2": (2, "auditor"), "public-v2": (2, "public"),
         "public-v1": (1, "public")}  # fmt: skip
# (team: index among the sorted credit codes, seat, cause): a lead, one seat twice, every cause
WITHDRAWALS = [(0, 0, "conflict"), (1, 1, "unavailable"), (0, 0, "left"), (2, 1, "conflict")]


def _inputs(version: int) -> DrawInputs:
    doc = json.loads((VECTOR_DIR / "large-2000.json").read_text(encoding="utf-8"))
    inputs = inputs_from_json(doc["inputs"])
    return inputs if version == 1 else dataclasses.replace(inputs, version=2, pseudonym_key=KEY)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, str]]]:
    """Each kind of bundle with four replacements, and the names it shows inspectors by."""
    out = {}
    for kind, (version, audience) in KINDS.items():
        inputs = _inputs(version)
        result = draw(inputs)
        replacer = Replacer(inputs, result)
        codes = sorted(result.teams)
        for team, seat, cause in WITHDRAWALS:
            replacer.withdraw(codes[team], seat, cause)
        folder = tmp_path_factory.mktemp(kind) / "bundle"
        write_bundle(folder, inputs, result, {"bureau": "测试局"}, audience,
                     replacements=replacer.recorded)  # fmt: skip
        out[kind] = folder, names_of(inputs)
    return out


@pytest.fixture(params=list(KINDS))
def bundle(request: pytest.FixtureRequest, written: dict, tmp_path: Path) -> Path:
    return Path(shutil.copytree(written[request.param][0], tmp_path / request.param))


def _entries(bundle: Path) -> list[dict]:
    return json.loads((bundle / REPLACEMENTS).read_text(encoding="utf-8"))["replacements"]


def _edit(bundle: Path, number: int, **change: object) -> None:
    entries = _entries(bundle)
    entries[number - 1].update(change)
    (bundle / REPLACEMENTS).write_bytes(canonical_json({"replacements": entries}) + b"\n")


def _fail(bundle: Path) -> str:
    proc = run_verify(bundle)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_every_kind_of_bundle_with_replacements_verifies(bundle: Path) -> None:
    names = [*bundle_files(*_kind(bundle), replacements=True), "MANIFEST.sha256"]
    assert sorted(p.name for p in bundle.iterdir()) == sorted(names)
    manifest = (bundle / "MANIFEST.sha256").read_text(encoding="utf-8").splitlines()
    listed = [line.split("  ")[1] for line in manifest]
    assert listed[listed.index("teams.json") + 1] == REPLACEMENTS
    proc = run_verify(bundle)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for n, entry in enumerate(_entries(bundle), 1):
        assert any(line.startswith(f"replacement {n} ok: {entry['credit_code']} position "
                                   f"{entry['position']}: {entry['withdrawn']} -> "
                                   f"{entry['replacement']} ({entry['cause']})")
                   for line in lines), proc.stdout  # fmt: skip
    assert "replacements: 4 ok, 3 teams changed" in proc.stdout
    assert f"MANIFEST.sha256: {len(names) - 1} files ok" in proc.stdout


def _kind(bundle: Path) -> tuple[str, int]:
    version, audience = KINDS[bundle.name]
    return audience, version


def test_the_public_bundle_names_pseudonyms_the_auditor_bundle_ids(written: dict) -> None:
    auditor = _entries(written["auditor-v2"][0])
    public, shown = _entries(written["public-v2"][0]), written["public-v2"][1]
    assert [e["cause"] for e in auditor] == ["conflict", "unavailable", "left", "conflict"]
    assert auditor[0]["position"] == 0 and auditor[2]["withdrawn"] == auditor[0]["replacement"]
    for mine, theirs in zip(auditor, public, strict=True):
        assert theirs == {**mine, "withdrawn": shown[mine["withdrawn"]],
                          "replacement": shown[mine["replacement"]]}  # fmt: skip
    teams = json.loads((written["auditor-v2"][0] / "teams.json").read_text("utf-8"))["teams"]
    assert teams[auditor[0]["credit_code"]][0] == auditor[0]["withdrawn"]  # the draw's, kept


def test_a_replacement_changed_to_another_inspector_is_caught(bundle: Path) -> None:
    entries = _entries(bundle)
    others = sorted({e["replacement"] for e in entries} | {e["withdrawn"] for e in entries})
    other = next(i for i in others if i != entries[1]["replacement"]
                 and i not in (entries[1]["withdrawn"],))  # fmt: skip
    _edit(bundle, 2, replacement=other)
    e = entries[1]
    assert _fail(bundle).startswith(
        f"FAIL: replacements.json: replacement 2: {e['credit_code']} position {e['position']}: "
        f"recorded {other}, the rules give {e['replacement']}"
    )


def test_a_skipped_number_is_caught(bundle: Path) -> None:
    _edit(bundle, 2, n=3)
    assert _fail(bundle) == "FAIL: replacements.json: replacement 2: number 3, expected 2"


def test_a_wrong_position_is_caught(bundle: Path) -> None:
    e = _entries(bundle)[0]
    _edit(bundle, 1, position=1)
    assert _fail(bundle) == (
        f"FAIL: replacements.json: replacement 1: {e['withdrawn']} is at position 0 of the "
        f"team of {e['credit_code']}, not 1"
    )


def test_an_unknown_cause_is_caught(bundle: Path) -> None:
    _edit(bundle, 3, cause="sick")
    assert _fail(bundle) == (
        "FAIL: replacements.json: replacement 3: unknown cause 'sick' "
        "(known: conflict, unavailable, left)"
    )


def test_a_withdrawn_member_not_on_the_team_is_caught(bundle: Path) -> None:
    code = _entries(bundle)[0]["credit_code"]
    teams = json.loads((bundle / "teams.json").read_text("utf-8"))["teams"]
    stranger = next(m for t in teams.values() for m in t if m not in teams[code])
    _edit(bundle, 1, withdrawn=stranger)
    assert _fail(bundle).startswith(
        f"FAIL: replacements.json: replacement 1: {stranger} is not on the team of {code} ("
    )


def _manifest(bundle: Path) -> list[str]:
    return (bundle / "MANIFEST.sha256").read_text(encoding="utf-8").splitlines(keepends=True)


def test_replacements_removed_from_the_manifest_are_caught(bundle: Path) -> None:
    lines = [x for x in _manifest(bundle) if not x.rstrip().endswith(REPLACEMENTS)]
    (bundle / "MANIFEST.sha256").write_text("".join(lines), encoding="utf-8")
    assert _fail(bundle) == (
        "FAIL: MANIFEST.sha256: replacements.json is in the bundle but not listed"
    )


def test_replacements_listed_out_of_place_are_caught(bundle: Path) -> None:
    lines = _manifest(bundle)
    moved = next(x for x in lines if x.rstrip().endswith(REPLACEMENTS))
    lines.remove(moved)
    (bundle / "MANIFEST.sha256").write_text("".join([*lines, moved]), encoding="utf-8")
    assert _fail(bundle) == (
        "FAIL: MANIFEST.sha256: replacements.json must be listed right after teams.json"
    )


def test_changed_bytes_of_replacements_are_caught(bundle: Path) -> None:
    """A flipped byte anywhere, or a change resealed in the manifest: named, exit 1."""
    path = bundle / REPLACEMENTS
    original = path.read_bytes()
    for fraction in (0.05, 0.3, 0.6, 0.9):
        path.write_bytes(_flip(original, int(len(original) * fraction)))
        assert REPLACEMENTS in _fail(bundle), fraction
    path.write_bytes(original)
    assert run_verify(bundle).returncode == 0


def test_a_replacement_dropped_and_the_manifest_resealed_is_caught(bundle: Path) -> None:
    """A forger drops the second of four replacements and reseals the manifest: the numbers
    show the gap."""
    entries = _entries(bundle)
    del entries[1]
    (bundle / REPLACEMENTS).write_bytes(canonical_json({"replacements": entries}) + b"\n")
    lines = []
    for line in _manifest(bundle):
        digest, name = line.rstrip("\n").split("  ")
        if name == REPLACEMENTS:
            digest = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
        lines.append(f"{digest}  {name}\n")
    (bundle / "MANIFEST.sha256").write_text("".join(lines), encoding="utf-8")
    assert _fail(bundle) == "FAIL: replacements.json: replacement 2: number 3, expected 2"


def test_an_empty_replacements_file_is_refused(bundle: Path) -> None:
    (bundle / REPLACEMENTS).write_bytes(b'{"replacements":[]}\n')
    assert _fail(bundle).startswith("FAIL: replacements.json: no replacement listed")


def test_a_bundle_without_replacements_is_written_as_before(tmp_path: Path) -> None:
    inputs = _inputs(2)
    result = draw(inputs)
    for audience in ("auditor", "public"):
        plain = write_bundle(tmp_path / f"plain-{audience}", inputs, result, None, audience)
        none = write_bundle(tmp_path / f"none-{audience}", inputs, result, None, audience,
                            replacements=())  # fmt: skip
        assert sorted(p.name for p in none.iterdir()) == sorted(p.name for p in plain.iterdir())
        for p in plain.iterdir():
            assert (none / p.name).read_bytes() == p.read_bytes()
        assert REPLACEMENTS not in bundle_files(audience, 2)


def test_a_replacement_the_rules_do_not_give_is_not_written(tmp_path: Path) -> None:
    from draw.replace import Replacement, ReplayMismatch

    inputs = _inputs(1)
    result = draw(inputs)
    replacer = Replacer(inputs, result)
    done = replacer.withdraw(sorted(result.teams)[0], 0, "conflict")
    wrong = next(i for i in sorted(result.workloads) if i != done.replacement
                 and i not in result.teams[done.withdrawal.credit_code])  # fmt: skip
    forged = [Replacement(done.withdrawal, wrong)]
    with pytest.raises(ReplayMismatch, match="replacement 1: "):
        write_bundle(tmp_path / "b", inputs, result, replacements=forged)
    assert not (tmp_path / "b" / "MANIFEST.sha256").exists()


@pytest.mark.parametrize("audience", ["auditor", "public"])
def test_a_failed_rounds_bundle_takes_no_replacements(audience: str, tmp_path: Path) -> None:
    """A failed round has no teams to change: replacements.json there is refused, unlisted
    (verify.py would otherwise confirm the failure and say nothing of it) or listed."""
    from draw.bundle import write_failed_bundle

    doc = json.loads((VECTOR_DIR / "infeasible.json").read_text("utf-8"))
    failed = write_failed_bundle(tmp_path / "failed", inputs_from_json(doc["inputs"]),
                                 None, audience)  # fmt: skip
    entry = {"n": 1, "credit_code": "x", "position": 0, "withdrawn": "a", "replacement": "b",
             "cause": "left"}  # fmt: skip
    (failed / REPLACEMENTS).write_bytes(canonical_json({"replacements": [entry]}) + b"\n")
    assert (
        _fail(failed) == "FAIL: MANIFEST.sha256: replacements.json is in the bundle but not listed"
    )
    digest = hashlib.sha256((failed / REPLACEMENTS).read_bytes()).hexdigest()
    with open(failed / "MANIFEST.sha256", "a", encoding="utf-8") as manifest:
        manifest.write(f"{digest}  {REPLACEMENTS}\n")
    assert _fail(failed) == "FAIL: MANIFEST.sha256: unexpected file replacements.json"
