"""verify.py refuses what its manifest does not list (docs/draw-algorithm.md §10).

A file or folder put beside a bundle's files (a teams-v2.json, notes.txt) is never checked;
it used to pass in silence, so an auditor handed the folder was not told. Now it is named, in
one line, exit 1, for every kind of bundle. What legitimately sits in a bundle's folder still
verifies: a ``risk/`` folder (the round's classification bundle, where ``shuangsui risk
bundle`` writes it by default), the round's ``commitment.json`` (the public site has the reader
download it beside the bundle), and a bundle written over another kind of bundle in the same
folder (the writer removes the other kind's files)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from draw.bundle import bundle_files, failed_bundle_files, write_bundle, write_failed_bundle
from draw.core import DrawInputs, draw

from .test_bundle import run_verify
from .vectors import VECTOR_DIR, inputs_from_json
from .vectors_v2 import KEY

# kind -> (version, audience, drawn): the teams vector drawn, the infeasible one failed
KINDS = {
    "auditor-v1": (1, "auditor", True),
    "auditor-v2": (2, "auditor", True),
    "public-v1": (1, "public", True),
    "public-v2": (2, "public", True),
    "failed-auditor-v1": (1, "auditor", False),
    "failed-public-v1": (1, "public", False),
}
EXTRAS = ["teams-v2.json", "notes.txt", ".notes", "notes/"]


def _inputs(vector: str, version: int) -> DrawInputs:
    doc = json.loads((VECTOR_DIR / f"{vector}.json").read_text(encoding="utf-8"))
    inputs = inputs_from_json(doc["inputs"])
    return inputs if version == 1 else dataclasses.replace(inputs, version=2, pseudonym_key=KEY)


def _write(folder: Path, kind: str) -> Path:
    version, audience, drawn = KINDS[kind]
    if not drawn:
        return write_failed_bundle(folder, _inputs("infeasible", version), None, audience)
    inputs = _inputs("teams", version)
    return write_bundle(folder, inputs, draw(inputs), {"bureau": "测试局"}, audience)


def _names(kind: str) -> list[str]:
    version, audience, drawn = KINDS[kind]
    files = bundle_files(audience, version) if drawn else failed_bundle_files(audience, version)
    return sorted([*files, "MANIFEST.sha256"])


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {kind: _write(tmp_path_factory.mktemp(kind) / "bundle", kind) for kind in KINDS}


@pytest.fixture(params=list(KINDS))
def bundle(request: pytest.FixtureRequest, written: dict[str, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(written[request.param], tmp_path / request.param))


def test_each_kind_of_bundle_verifies_as_written(bundle: Path) -> None:
    assert sorted(p.name for p in bundle.iterdir()) == _names(bundle.name)
    proc = run_verify(bundle)
    assert proc.returncode == 0, proc.stdout
    assert "nothing unlisted" in proc.stdout and "risk/" not in proc.stdout


@pytest.mark.parametrize("extra", EXTRAS)
def test_an_unlisted_file_or_folder_is_named(bundle: Path, extra: str) -> None:
    if extra.endswith("/"):
        (bundle / extra).mkdir()
        (bundle / extra / "teams.json").write_bytes((bundle / "round.json").read_bytes())
    else:
        (bundle / extra).write_text("{}\n", encoding="utf-8")
    proc = run_verify(bundle)
    assert proc.returncode == 1, proc.stdout
    fails = [line for line in proc.stdout.splitlines() if "FAIL" in line]
    assert fails == [f"FAIL: MANIFEST.sha256: {extra} is in the bundle but not listed"]
    assert proc.stdout.endswith(fails[0] + "\n")


def test_the_first_of_several_unlisted_files_is_named(bundle: Path) -> None:
    for name in ("zz.txt", "a-notes.txt"):
        (bundle / name).write_text("x", encoding="utf-8")
    last = run_verify(bundle).stdout.splitlines()[-1]
    assert last == "FAIL: MANIFEST.sha256: a-notes.txt is in the bundle but not listed"


def test_what_lies_beside_a_bundle_by_design_is_said_not_refused(bundle: Path) -> None:
    """``shuangsui risk bundle ROUND`` writes into bundles/ROUND/risk (docs/risk.md), the
    round's page has the reader download commitment.json beside the bundle, and macOS Finder
    writes .DS_Store into a folder it shows: each is said on a line of its own, not checked,
    not refused. Of the other kind (a file risk, a folder commitment.json) each is refused."""
    (bundle / "risk").mkdir()
    (bundle / "risk" / "classes.jsonl").write_text("{}\n", encoding="utf-8")
    (bundle / "commitment.json").write_text("{}\n", encoding="utf-8")
    (bundle / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    proc = run_verify(bundle)
    assert proc.returncode == 0, proc.stdout
    assert "risk/: the round's classification bundle, not checked here" in proc.stdout
    assert "commitment.json: the round's published commitment, not checked here" in proc.stdout
    assert ".DS_Store: written by a file manager, not part of the bundle, not read" in proc.stdout
    shutil.rmtree(bundle / "risk")
    (bundle / "risk").write_text("{}\n", encoding="utf-8")
    last = run_verify(bundle).stdout.splitlines()[-1]
    assert last == "FAIL: MANIFEST.sha256: risk is in the bundle but not listed"
    (bundle / "risk").unlink()
    (bundle / "commitment.json").unlink()
    (bundle / "commitment.json").mkdir()
    last = run_verify(bundle).stdout.splitlines()[-1]
    assert last == "FAIL: MANIFEST.sha256: commitment.json/ is in the bundle but not listed"


@pytest.mark.parametrize(
    "first, then",
    [("public-v2", "auditor-v2"), ("auditor-v2", "public-v2"), ("auditor-v2", "auditor-v1"),
     ("auditor-v1", "failed-public-v1"), ("failed-auditor-v1", "public-v1")],
)  # fmt: skip
def test_a_bundle_written_over_another_kind_verifies(first: str, then: str, tmp_path: Path) -> None:
    """The writer removes the files of the kind it replaces (a public bundle written over the
    auditor's keeps no inspector frame), and nothing a person put in the folder."""
    folder = _write(tmp_path / "bundle", first)
    (folder / "notes.txt").write_text("the coordinator's own notes", encoding="utf-8")
    _write(folder, then)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*_names(then), "notes.txt"])
    (folder / "notes.txt").unlink()
    proc = run_verify(folder)
    assert proc.returncode == 0, proc.stdout
