"""verify.py as an outsider runs it: `python3 -I -S verify.py DIR` in a real subprocess."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from draw.bundle import BUNDLE_FILES, write_bundle
from draw.core import draw

from .factories import make_inputs

PYTHON = shutil.which("python3") or sys.executable


def run_verify(bundle: Path, script: Path | None = None) -> subprocess.CompletedProcess[str]:
    script = script or bundle / "verify.py"
    return subprocess.run(
        [PYTHON, "-I", "-S", str(script), str(bundle)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    inputs = make_inputs(1234, 40)
    bundle = tmp_path_factory.mktemp("bundle") / "FJ-2026-12-CCC"
    write_bundle(bundle, inputs, draw(inputs), {"bureau": "福建省市场监督管理局"})
    return bundle


@pytest.fixture
def bundle(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(pristine, tmp_path / "b"))


def test_bundle_layout_and_plan_hash_is_file_hash(pristine: Path) -> None:
    import hashlib

    assert sorted(p.name for p in pristine.iterdir()) == sorted([*BUNDLE_FILES, "MANIFEST.sha256"])
    round_doc = json.loads((pristine / "round.json").read_text(encoding="utf-8"))
    plan_sha = hashlib.sha256((pristine / "plan.json").read_bytes()).hexdigest()
    assert round_doc["commitments"]["plan_hash"] == plan_sha
    source = Path(__file__).resolve().parents[2] / "draw" / "verify_bundle.py"
    assert (pristine / "verify.py").read_bytes() == source.read_bytes()


def test_verify_passes_and_says_what_it_checked(pristine: Path) -> None:
    proc = run_verify(pristine)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for line in ("plan hash ok", "frame: 1,234 enterprises, commitment ok, Merkle root ok",
                 "inspectors: 40 inspectors", "entropy record 0 (witness-digits) ok", "seed ok",
                 "selection: ", "teams: ", "MANIFEST.sha256: 9 files ok", "OK: "):  # fmt: skip
        assert line in proc.stdout


def _edit_json(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    path.write_text(text + ("" if path.name == "plan.json" else "\n"), encoding="utf-8")


def _fail(bundle: Path) -> str:
    proc = run_verify(bundle)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_tampered_selected_id(bundle: Path) -> None:
    sel = json.loads((bundle / "selection.json").read_text(encoding="utf-8"))["selected"]
    original = sel[16]["credit_code"]
    _edit_json(bundle / "selection.json",
               lambda d: d["selected"][16].update(credit_code="91350100TAMPERED00"))  # fmt: skip
    assert _fail(bundle) == (
        f"FAIL: selection.json: entry 17 credit_code 91350100TAMPERED00 expected {original}"
    )


def test_tampered_seed(bundle: Path) -> None:
    _edit_json(bundle / "round.json", lambda d: d.update(seed="00" * 32))
    assert _fail(bundle).startswith("FAIL: round.json: seed (from round_key, the commitments")


def test_tampered_frame_row(bundle: Path) -> None:
    path = bundle / "frame-enterprises.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    row = json.loads(lines[41])
    row["note"] = "quietly excluded"
    row["status"] = "excluded"
    lines[41] = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    assert _fail(bundle).startswith(
        "FAIL: frame-enterprises.jsonl: commitment (round.json frame_commitment): recomputed"
    )


def test_removed_frame_row(bundle: Path) -> None:
    path = bundle / "frame-enterprises.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:10] + lines[11:]), encoding="utf-8")
    assert _fail(bundle).startswith("FAIL: frame-enterprises.jsonl: size (round.json frame_size)")


def test_tampered_plan(bundle: Path) -> None:
    _edit_json(bundle / "plan.json", lambda d: d["strata"]["rates"].update(D="1%"))
    assert _fail(bundle).startswith("FAIL: plan.json: plan hash (round.json plan_hash)")


def test_tampered_team(bundle: Path) -> None:
    def swap(doc: dict) -> None:
        code = sorted(doc["teams"])[3]
        doc["teams"][code] = list(reversed(doc["teams"][code]))

    _edit_json(bundle / "teams.json", swap)
    assert _fail(bundle).startswith("FAIL: teams.json: team of ")


def test_tampered_entropy(bundle: Path) -> None:
    _edit_json(bundle / "entropy.json", lambda d: d[0].update(digits="1234"))
    assert _fail(bundle).startswith("FAIL: entropy.json: record 0: digits must be at least 20")


def _flip(data: bytes, position: int) -> bytes:
    """Change one ASCII letter or digit at or after ``position`` into another."""
    for j in range(len(data)):
        i = (position + j) % len(data)
        c = chr(data[i])
        if c.isascii() and c.isalnum():
            new = "1" if c == "0" else ("0" if c.isdigit() else ("b" if c == "a" else "a"))
            return data[:i] + new.encode() + data[i + 1 :]
    raise AssertionError("nothing to flip")


@pytest.mark.parametrize("name", [*BUNDLE_FILES, "MANIFEST.sha256"])
def test_any_changed_byte_fails_naming_the_file(bundle: Path, name: str) -> None:
    """Run the pristine verifier so a flipped byte in the bundle's own verify.py is data."""
    script = bundle.parent / "verify-pristine.py"
    shutil.copyfile(bundle / "verify.py", script)
    path = bundle / name
    original = path.read_bytes()
    for fraction in (0.1, 0.5, 0.93):
        path.write_bytes(_flip(original, int(len(original) * fraction)))
        proc = run_verify(bundle, script)
        assert proc.returncode == 1, (name, fraction, proc.stdout)
        assert name in proc.stdout.strip().splitlines()[-1], (name, fraction, proc.stdout)
    path.write_bytes(original)
    assert run_verify(bundle, script).returncode == 0


def test_usage(bundle: Path) -> None:
    proc = subprocess.run([PYTHON, "-I", "-S", str(bundle / "verify.py")], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert proc.returncode == 2 and "usage" in proc.stdout


@pytest.mark.parametrize("vector", ["targeted", "large-2000", "weighted", "teams"])
def test_vector_bundles_verify(vector: str, tmp_path: Path) -> None:
    """Bundles with targeted/excluded rows, beacon and commit-reveal entropy, weights, recusals."""
    from .vectors import VECTOR_DIR, inputs_from_json

    doc = json.loads((VECTOR_DIR / f"{vector}.json").read_text(encoding="utf-8"))
    inputs = inputs_from_json(doc["inputs"])
    result = draw(inputs)
    write_bundle(tmp_path / vector, inputs, result)
    proc = run_verify(tmp_path / vector)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result.seed == doc["expected"]["seed"]
