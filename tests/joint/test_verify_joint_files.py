"""verify_joint.py given a bundle folder whose listed files are not all regular files (one
drawn joint round between bureaus served on loopback, SQLite and PostgreSQL): a file removed,
a folder in a file's place, a FIFO (a tar archive carries one), a symlink to ``/dev/zero``.
The FIFO hung the verifier for ever (``open`` waits for a writer), the device was read until
memory ran out (``MemoryError`` under a limit; without one, the machine's memory), and a file
removed or a folder ended in ``FAIL: MANIFEST.sha256: malformed (FileNotFoundError: [Errno 2]
…)``, naming another file than the one missing. Now each is one line naming the file and what
it is, exit 1, before anything reads it; a symlink to a regular file is read as that file (its
bytes are what the manifest checks)."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from joint import service
from joint.bundle import write_bundle
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, Trio
from tests.joint.world import NAMES

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)
JOINT = "jt-files"


def _limited() -> None:  # the verifier's memory bounded: a device read without end must not
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # take the machine's


def _run(bundle: Path) -> str:
    try:
        res = subprocess.run(["python3", "-I", "-S", str(bundle / "verify_joint.py"),
                              str(bundle)], capture_output=True, text=True, timeout=30,
                             preexec_fn=_limited)  # fmt: skip
    except subprocess.TimeoutExpired:
        return "still running after 30 s"
    return f"{res.returncode} {res.stdout.splitlines()[-1] if res.stdout else res.stderr}"


def _removed(p: Path) -> None:
    p.unlink()


def _folder(p: Path) -> None:
    p.unlink()
    p.mkdir()


def _fifo(p: Path) -> None:
    p.unlink()
    os.mkfifo(p)


def _zero(p: Path) -> None:
    p.unlink()
    p.symlink_to("/dev/zero")


CASES: list[tuple[str, Callable[[Path], None], str]] = [
    ("statements.json", _removed, "statements.json: not in the bundle (its manifest lists it)"),
    ("MANIFEST.sha256", _removed, "MANIFEST.sha256: not in the bundle"),
    ("outcome.json", _folder, "outcome.json: not a regular file (a folder)"),
    ("verify.py", _fifo, "verify.py: not a regular file (a FIFO)"),
    ("frame-enterprises.jsonl", _zero, "frame-enterprises.jsonl: not a regular file (a device)"),
    ("joint-plan.json", _fifo, "joint-plan.json: not a regular file (a FIFO)"),
]


def test_a_listed_file_that_is_not_a_regular_file_is_named(trio: Trio, tmp_path: Path) -> None:
    trio.commit(JOINT)
    for code in NAMES:
        trio.reveal(code, JOINT)
    assert service.draw(trio.b[FJ].engine, trio.me[FJ], JOINT).status == "drawn"
    good = tmp_path / "good"
    write_bundle(trio.b[FJ].engine, JOINT, good)
    assert _run(good).startswith("0 OK: the joint round")
    said = {}
    for n, (name, change, _) in enumerate(CASES):
        bundle = tmp_path / str(n)
        shutil.copytree(good, bundle)
        change(bundle / name)
        said[name] = _run(bundle)
    assert said == {name: f"1 FAIL: {line}" for name, _, line in CASES}
    # a symlink to a regular file holding the bundle's bytes is read as that file
    linked = tmp_path / "linked"
    shutil.copytree(good, linked)
    (linked / "outcome.json").unlink()
    (linked / "outcome.json").symlink_to(good / "outcome.json")
    assert _run(linked).startswith("0 OK: the joint round")


pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
