"""``joint draw`` (and ``joint reveal``) pull before they decide, and say what the pull refused
as ``joint pull`` says it (real ``shuangsui serve`` processes).

``service.draw`` and ``service.reveal`` pulled every partner's statements and threw the pull's
notes away: a statement a participant served that was not taken (a field of the wrong JSON
type, a statement signed for another bureau) was said only by ``joint pull``, so a bureau that
runs ``joint reveal`` and ``joint draw`` (the documented steps) never learned of it, even while
``joint draw`` waited (exit 3). Now the notes are kept in ``Bureau.pulled`` and both commands
print them, waiting or decided; the outcome is the one every participant draws."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.joint.test_joint_relayed_types import _own, _serve
from tests.joint.test_joint_replacements import _row
from tests.joint.world import World, joint_yaml

pytestmark = pytest.mark.slow
FJ, SH, ZJ = "350000", "310000", "330000"
JOINT = "jt-2026-12"


def _notes(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith(f"  pull from {SH}: ")]


def test_joint_draw_says_what_its_pull_refused(world: World, tmp_path: Path) -> None:
    w = world
    plan = tmp_path / "joint.yaml"
    plan.write_text(joint_yaml(JOINT), encoding="utf-8")
    for code in (FJ, SH, ZJ):
        w.run(code, "joint", "commit", str(plan))
    for code in (FJ, SH):
        w.run(code, "joint", "reveal", JOINT)
    # Shanghai serves besides two statements it signed with its own key, each wrongly typed
    reveal, commit = _own(w, SH, "reveal"), _own(w, SH, "commit")
    st = json.loads(reveal.envelope)["statement"] | {"joint_plan_hash": 7}
    _serve(w, SH, "reveal", st)
    st = json.loads(commit.envelope)["statement"] | {"inspector_commitment": "x", "bureau": [SH]}
    _serve(w, SH, "commit", st, commit.payload)
    expected = [
        f"  pull from {SH}: a statement not taken: joint-reveal of {SH}: "
        "statement.joint_plan_hash: a string is needed",
        f"  pull from {SH}: a statement not taken: joint-commit: "
        "statement.bureau: a string is needed",
    ]

    waiting = w.run(FJ, "joint", "draw", JOINT, ok=False)  # Zhejiang has not revealed
    assert waiting.returncode == 3, (waiting.stdout, waiting.stderr)
    assert "waiting for the reveals of 330000" in waiting.stderr
    assert sorted(_notes(waiting.stdout)) == sorted(expected), waiting.stdout

    revealed = w.run(ZJ, "joint", "reveal", JOINT)  # its pull meets them too
    assert f"{JOINT}: revealed" in revealed.stdout
    assert sorted(_notes(revealed.stdout)) == sorted(expected), revealed.stdout

    for _again in range(2):  # deciding, then drawn already (it pulls again)
        drawn = w.run(FJ, "joint", "draw", JOINT)
        assert "Traceback" not in drawn.stderr
        lines = drawn.stdout.splitlines()
        assert lines[0].startswith(f"{JOINT}: drawn, seed "), drawn.stdout
        assert sorted(_notes(drawn.stdout)) == sorted(expected), drawn.stdout

    # the outcome is the one Shanghai draws (nothing refused in its pull) and the one Zhejiang
    # draws (the same refusals): a refused statement changes nothing of it
    clean = w.run(SH, "joint", "draw", JOINT)
    assert "pull from" not in clean.stdout, clean.stdout
    assert _row(w.b[FJ].engine).outcome == _row(w.b[SH].engine).outcome
    assert sorted(_notes(w.run(ZJ, "joint", "draw", JOINT).stdout)) == sorted(expected)
    assert _row(w.b[ZJ].engine).outcome == _row(w.b[FJ].engine).outcome
