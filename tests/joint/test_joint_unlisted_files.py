"""verify_joint.py refuses what its manifest does not list (docs/draw-algorithm.md §13.6), as
verify.py does for a round's bundle (tests/draw/test_verify_unlisted.py).

A file or folder put beside a joint bundle's files (an outcome-v2.json, notes.txt) was never
checked and passed in silence: an auditor handed the folder was not told. Now it is named, in
one line, exit 1. Nothing is written beside a joint bundle by design (no public page offers it,
no classification bundle goes with it), so a ``risk/`` folder or a ``commitment.json`` is
refused too; only a file manager's files are let be, and said. verify_joint.py writes nothing
into the folder it checks (it left ``__pycache__/``, which it would now refuse on the second
run). A joint bundle written into a folder that held another bundle (a round's, or a joint
round with other participants) removes the other's files and what an earlier verify_joint.py
left, and nothing a person put there; a round's bundle written where a joint one was removes
the joint files, as it removes a round bundle's of another kind."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from draw.bundle import bundle_files as draw_bundle_files
from joint import service
from joint.bundle import bundle_files, write_bundle
from tests.draw.test_bundle import run_verify
from tests.draw.test_verify_unlisted import _write as write_draw_bundle
from tests.joint.test_protocol import Trio, trio  # noqa: F401  (fixture)
from tests.joint.world import NAMES, joint_yaml

FJ, SH, ZJ = "350000", "310000", "330000"
EXTRAS = [
    "outcome-v2.json",
    "notes.txt",
    ".notes",
    "notes/",
    "inspectors-320000.jsonl",  # a bureau that is not a participant
    "risk/",  # beside a round's bundle by design, never beside a joint one
    "commitment.json",
]
FILE_MANAGER = (".DS_Store", "Thumbs.db", "desktop.ini")


def _run(bundle: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["python3", "-I", "-S", str(bundle / "verify_joint.py"), str(bundle)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _drawn(world: Trio, joint: str, bureaus: tuple[str, ...] = tuple(NAMES)) -> dict:
    """Commit ``joint`` with ``bureaus`` as participants (teams of one inspector each),
    reveal and draw it at the lead; its joint plan."""
    text = joint_yaml(joint)
    for left_out in set(NAMES) - set(bureaus):
        text = text.replace(f"  - {{bureau: '{left_out}', inspectors: 1}}\n", "")
    text = text.replace("size: 3", f"size: {len(bureaus)}")
    for code in bureaus:
        service.commit(world.b[code].engine, world.me[code], text)
    for code in bureaus:
        world.reveal(code, joint)
    row = service.draw(world.b[FJ].engine, world.me[FJ], joint)
    assert row.status == "drawn", row.outcome
    return service.plan_of(row)


def _names(plan: dict) -> list[str]:
    return sorted([*bundle_files(plan), "MANIFEST.sha256"])


def test_a_file_or_folder_the_manifest_does_not_list_is_named(
    trio: Trio,  # noqa: F811
    tmp_path: Path,
) -> None:
    plan = _drawn(trio, "jt-unlisted")
    good = tmp_path / "good"
    write_bundle(trio.b[FJ].engine, "jt-unlisted", good)
    assert sorted(p.name for p in good.iterdir()) == _names(plan)
    for _twice in range(2):  # the first run leaves nothing the second would refuse
        proc = _run(good)
        assert proc.returncode == 0, proc.stdout
        assert "MANIFEST.sha256: 12 files ok, nothing unlisted\n" in proc.stdout
    assert sorted(p.name for p in good.iterdir()) == _names(plan)

    for n, extra in enumerate(EXTRAS):
        bundle = Path(shutil.copytree(good, tmp_path / f"extra-{n}"))
        if extra.endswith("/"):
            (bundle / extra).mkdir()
            (bundle / extra / "outcome.json").write_bytes((bundle / "outcome.json").read_bytes())
        else:
            (bundle / extra).write_text("{}\n", encoding="utf-8")
        proc = _run(bundle)
        assert proc.returncode == 1, (extra, proc.stdout)
        fails = [line for line in proc.stdout.splitlines() if "FAIL" in line]
        assert fails == [f"FAIL: MANIFEST.sha256: {extra} is in the bundle but not listed"]
        assert proc.stdout.endswith(fails[0] + "\n"), proc.stdout  # the first check, the last line

    several = Path(shutil.copytree(good, tmp_path / "several"))
    for name in ("zz.txt", "a-notes.txt"):
        (several / name).write_text("x", encoding="utf-8")
    last = _run(several).stdout.splitlines()[-1]
    assert last == "FAIL: MANIFEST.sha256: a-notes.txt is in the bundle but not listed"


def test_a_file_managers_files_are_said_not_refused(
    trio: Trio,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Finder and Explorer write these into a folder they show; of the other kind (a folder
    named so) each is refused."""
    _drawn(trio, "jt-finder")
    bundle = tmp_path / "bundle"
    write_bundle(trio.b[FJ].engine, "jt-finder", bundle)
    for name in FILE_MANAGER:
        (bundle / name).write_bytes(b"\x00\x00\x00\x01Bud1")
    proc = _run(bundle)
    assert proc.returncode == 0, proc.stdout
    for name in FILE_MANAGER:
        said = f"{name}: written by a file manager, not part of the bundle, not read"
        assert said in proc.stdout.splitlines(), proc.stdout
    (bundle / "Thumbs.db").unlink()
    (bundle / "Thumbs.db").mkdir()
    last = _run(bundle).stdout.splitlines()[-1]
    assert last == "FAIL: MANIFEST.sha256: Thumbs.db/ is in the bundle but not listed"


def test_a_joint_bundle_written_over_another_verifies(
    trio: Trio,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Over a round's bundle, then over a joint round of three bureaus with one of two: the
    files the new manifest does not list are removed (no round.json, no inspectors of the
    bureau left out), and the bytecode an earlier verify_joint.py wrote beside verify.py; the
    coordinator's own notes are kept."""
    folder = write_draw_bundle(tmp_path / "bundle", "auditor-v2")
    notes, cache = folder / "notes.txt", folder / "__pycache__"
    for joint, bureaus in (("jt-three", (FJ, SH, ZJ)), ("jt-two", (FJ, SH))):
        plan = _drawn(trio, joint, bureaus)
        notes.write_text("the coordinator's own notes", encoding="utf-8")
        cache.mkdir(exist_ok=True)
        (cache / "verify.cpython-311.pyc").write_bytes(b"\xa7\r\r\n")
        write_bundle(trio.b[FJ].engine, joint, folder)
        assert sorted(p.name for p in folder.iterdir()) == sorted([*_names(plan), "notes.txt"])
        notes.unlink()
        proc = _run(folder)
        assert proc.returncode == 0 and "reproduced exactly" in proc.stdout, (joint, proc.stdout)
    assert not (folder / f"inspectors-{ZJ}.jsonl").exists()


def test_a_round_bundle_written_over_a_joint_one_verifies(
    trio: Trio,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The other way: a round's bundle written where a joint one was removes the joint files
    (joint-plan.json, statements.json, outcome.json, each participant's, verify_joint.py),
    which the round's verify.py would refuse as unlisted; a person's notes.txt stays, and
    verify.py names it."""
    _drawn(trio, "jt-then-round")
    folder = tmp_path / "bundle"
    write_bundle(trio.b[FJ].engine, "jt-then-round", folder)
    (folder / "notes.txt").write_text("the coordinator's own notes", encoding="utf-8")
    write_draw_bundle(folder, "auditor-v2")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*draw_bundle_files("auditor", 2), "MANIFEST.sha256", "notes.txt"]
    )
    last = run_verify(folder).stdout.splitlines()[-1]
    assert last == "FAIL: MANIFEST.sha256: notes.txt is in the bundle but not listed"
    (folder / "notes.txt").unlink()
    proc = run_verify(folder)
    assert proc.returncode == 0, proc.stdout
