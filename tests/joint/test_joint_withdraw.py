"""A joint round withdrawn before it is decided (``joint withdraw``; three bureaus served on
loopback, SQLite and PostgreSQL). A round proposed by mistake, or whose partners went silent,
had no way to end: it waited for its deadlines. Now the bureau records it withdrawn (its nonce
erased, an audit event), which protocol version 1 cannot tell the partners: they see its reveal
missing and fail the round at the deadline, naming it. Refused once its nonce is revealed, once
the round is decided, or once a deadline has failed it by the rule; a draw or a reveal at the
same time is ordered (the first recorded stands, the order forced)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from joint import abandon, service
from joint.bundle import write_bundle
from joint.evidence import evidence
from joint.models import JointRound, JointStatement
from rounds.models import AuditEvent
from shuangsui.errors import UserError
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, SH, ZJ, Trio
from tests.joint.world import World, joint_yaml
from tests.races import held_while

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)
LATE = dt.timedelta(hours=1)  # past both deadlines of joint_yaml


def _withdraw(trio: Trio, joint: str, now: dt.datetime | None = None) -> JointRound:
    return abandon.withdraw_round(trio.b[FJ].engine, FJ, joint, note="错误的合作局",
                                  recorded_by="张三", now=now)  # fmt: skip


def _our_reveals(trio: Trio, joint: str) -> list[JointStatement]:
    return [r for r in service.held(trio.b[FJ].engine, joint, ("reveal",)) if r.bureau == FJ]


def test_a_committed_round_is_withdrawn_and_its_nonce_never_revealed(
    trio: Trio, tmp_path: Path
) -> None:
    joint = "jt-withdrawn"
    trio.commit(joint)
    engine = trio.b[FJ].engine
    row = _withdraw(trio, joint)
    assert row.status == "withdrawn" and row.nonce == "", row
    with Session(engine) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.event == "JointRoundWithdrawn")).one()
    assert event.round_key == joint
    assert json.loads(event.payload) | {"commit_deadline": "", "reveal_deadline": ""} == {
        "bureau": FJ, "was": "committed", "note": "错误的合作局", "recorded_by": "张三",
        "commit_deadline": "", "reveal_deadline": "",
    }  # fmt: skip
    with pytest.raises(UserError, match=f"^joint round {joint} is withdrawn here: nothing is rev"):
        service.reveal(engine, trio.me[FJ], joint)
    assert service.draw(engine, trio.me[FJ], joint).status == "withdrawn"
    said = evidence(engine, row)  # partners status and the workspace list every round's lines
    assert said[0].startswith(f"joint round {joint} withdrawn here at "), said
    with pytest.raises(UserError, match="withdrawn here: nothing was drawn, it has no bundle"):
        write_bundle(engine, joint, tmp_path / "bundle")
    with pytest.raises(UserError, match=f"^joint round {joint} is withdrawn here already"):
        _withdraw(trio, joint)
    assert _our_reveals(trio, joint) == []
    # the partners are not told: they reveal, Fujian's never comes, the deadline fails it
    for code in (SH, ZJ):
        trio.reveal(code, joint)
    late = dt.datetime.now(dt.UTC) + LATE
    for code in (SH, ZJ):
        decided = service.draw(trio.b[code].engine, trio.me[code], joint, now=late)
        failure = (decided.outcome or {})["failure"]
        assert (decided.status, failure["reason"], failure["bureaus"]) == ("failed", "withheld",
                                                                            [FJ])  # fmt: skip
    # a rerun naming it: taken here (it was withdrawn, nobody withheld); a partner that
    # recorded Fujian as withholding keeps it out, as for any withholder
    rerun = joint_yaml("jt-withdrawn-2") + f"replaces: {joint}\n"
    assert service.commit(engine, trio.me[FJ], rerun).status == "committed"
    with pytest.raises(UserError, match=f"^participants: {FJ} withheld its reveal in {joint}"):
        service.commit(trio.b[SH].engine, trio.me[SH], rerun)


def test_refused_once_our_nonce_is_revealed(trio: Trio) -> None:
    joint = "jt-revealed"
    trio.commit(joint)
    trio.reveal(FJ, joint)
    with pytest.raises(UserError, match=f"^joint round {joint}: our nonce is revealed"):
        _withdraw(trio, joint)
    assert service.get_joint(trio.b[FJ].engine, joint).status == "revealed"


def test_refused_once_drawn(trio: Trio) -> None:
    joint = "jt-drawn"
    trio.commit(joint)
    for code in (FJ, SH, ZJ):
        trio.reveal(code, joint)
    assert service.draw(trio.b[FJ].engine, trio.me[FJ], joint).status == "drawn"
    with pytest.raises(
        UserError, match=f"^joint round {joint} is drawn here \\(seed [0-9a-f]{{16}}"
    ):
        _withdraw(trio, joint)


def test_refused_once_a_deadline_has_failed_it(trio: Trio) -> None:
    """The failure the rule gives (who withheld) is evidence: a withdrawal would hide it."""
    joint = "jt-expired"
    trio.commit(joint)
    late = dt.datetime.now(dt.UTC) + LATE
    with pytest.raises(UserError, match=f"has failed by the rule \\(withheld: {FJ}, {SH}, {ZJ}\\)"):
        _withdraw(trio, joint, now=late)
    assert service.get_joint(trio.b[FJ].engine, joint).status == "committed"


def test_a_draw_deciding_while_the_round_is_withdrawn_leaves_it_withdrawn(
    trio: Trio, monkeypatch: pytest.MonkeyPatch
) -> None:
    joint = "jt-draw-held"
    trio.commit(joint)
    engine, late = trio.b[FJ].engine, dt.datetime.now(dt.UTC) + LATE
    drawn = held_while(monkeypatch, (service, "_decided"),  # held as it records "failed"
                       lambda: service.draw(engine, trio.me[FJ], joint, now=late),
                       meanwhile=lambda: _withdraw(trio, joint))  # fmt: skip
    assert drawn.status == "withdrawn", drawn.outcome
    assert service.get_joint(engine, joint).status == "withdrawn"


def test_a_withdrawal_after_the_draw_recorded_is_refused(
    trio: Trio, monkeypatch: pytest.MonkeyPatch
) -> None:
    joint = "jt-withdraw-held"
    trio.commit(joint)
    engine, late = trio.b[FJ].engine, dt.datetime.now(dt.UTC) + LATE
    with pytest.raises(UserError, match=f"^joint round {joint} has failed here \\(withheld: "):
        held_while(monkeypatch, (abandon, "write"),  # checked, held before its transaction
                   lambda: _withdraw(trio, joint),
                   meanwhile=lambda: service.draw(engine, trio.me[FJ], joint,
                                                  now=late))  # fmt: skip
    assert service.get_joint(engine, joint).status == "failed"


def test_a_reveal_held_while_the_round_is_withdrawn_is_not_made(
    trio: Trio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reveal was held, then the status set, in two writes: a withdrawal between them was
    overwritten by ``revealed`` and the reveal sent (and served to a partner's pull)."""
    joint = "jt-reveal-held"
    trio.commit(joint)
    engine = trio.b[FJ].engine
    with pytest.raises(UserError, match=f"^joint round {joint} is withdrawn here: nothing is rev"):
        held_while(monkeypatch, (service, "sign_statement"),  # the reveal made, not yet held
                   lambda: service.reveal(engine, trio.me[FJ], joint),
                   meanwhile=lambda: _withdraw(trio, joint))  # fmt: skip
    assert service.get_joint(engine, joint).status == "withdrawn"
    assert _our_reveals(trio, joint) == []
    for code in (SH, ZJ):
        assert [r for r in service.held(trio.b[code].engine, joint, ("reveal",))] == []


def test_the_command(world: World, tmp_path: Path) -> None:
    """``shuangsui joint withdraw`` against real ``shuangsui serve`` processes."""
    joint = "jt-cli-withdrawn"
    plan = tmp_path / "joint.yaml"
    plan.write_text(joint_yaml(joint), encoding="utf-8")
    world.run(FJ, "joint", "commit", str(plan))
    blank = world.run(FJ, "joint", "withdraw", joint, "--note", " ", ok=False)
    assert blank.returncode != 0 and "--note: say why" in blank.stderr, blank.stderr
    said = world.run(FJ, "joint", "withdraw", joint, "--note", "wrong window", "--by", "zhang")
    assert said.stdout.startswith(f"{joint}: withdrawn here; our nonce is erased"), said.stdout
    assert "the partners are not told" in said.stdout, said.stdout
    status = world.run(FJ, "joint", "status", joint).stdout
    assert f"{joint}: withdrawn here at " in status, status
    assert f"    joint round {joint} withdrawn here at " in status, status
    again = world.run(FJ, "joint", "withdraw", joint, "--note", "again", ok=False)
    assert again.returncode != 0 and "is withdrawn here already" in again.stderr, again.stderr
    reveal = world.run(FJ, "joint", "reveal", joint, ok=False)
    assert reveal.returncode != 0 and "is withdrawn here: nothing is revealed" in reveal.stderr
