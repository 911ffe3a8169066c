"""A bureau's edited notice template that does not render, against a round's commit and draw.

The draw's notices are made inside its transaction, after the draw is made. A template with a
misspelt variable stopped the draw there: nothing was kept and nothing was audited, so the
round, still committed, could be drawn again with other witness digits once the template was
mended. Now the messages a draw queues are made from sample facts first
(``notifications.rehearsal``): the commit, and the draw before its seed is made, are refused
naming the template and the variable, and nothing is decided. A template that renders the
samples and fails on a real round's facts still stops the draw inside its transaction; that
draw is audited as lost (``DrawNotRecorded`` with its error), and the round is held to its
seed, as a draw lost to other writers is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from notifications.render import TemplateError
from rounds import audit, service
from rounds.models import Round, RoundStatus
from shuangsui.errors import DrawAlreadyMade
from tests.rounds.factories import plan_yaml, seed_registry

ROUND = "ccc-2026-12"
DIGITS, OTHER = "16180339887498948482045868", "27182818284590452353602874"
OURS = Path(__file__).resolve().parents[2] / "notifications" / "templates" / "zh"


def _templates(folder: Path, monkeypatch: pytest.MonkeyPatch, assignment: str) -> None:
    """The bureau's own templates in ``folder``: our assignment notice, edited."""
    (folder / "zh").mkdir(parents=True)
    ours = (OURS / "assignment.txt.j2").read_text(encoding="utf-8")
    (folder / "zh" / "assignment.txt.j2").write_text(
        ours.replace("{{ inspector.name }} 同志", assignment), encoding="utf-8"
    )
    monkeypatch.setenv("SHUANGSUI_NOTIFY_TEMPLATE_DIR", str(folder))


def _draw(engine: sa.Engine, digits: str = DIGITS) -> Round:
    return service.draw_round(
        engine=engine, round_key=ROUND, requested_by="王五",
        entropy=service.EntropyInput(witness_digits=digits, witnesses=("陈明",)),
    )  # fmt: skip


def _events(engine: sa.Engine) -> list[tuple[str, dict]]:
    with Session(engine) as s:
        return [(e.event, json.loads(e.payload)) for e in audit.load_chain(s)]  # it verifies


def test_a_template_that_does_not_render_refuses_the_commit_and_the_draw_deciding_nothing(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seed_registry(engine)
    _templates(tmp_path / "broken", monkeypatch, "{{ inspector.nmae }} 同志")
    with pytest.raises(TemplateError, match=r"zh/assignment\.txt\.j2: .*'nmae'") as refused:
        service.commit_round(engine=engine, plan_text=plan_yaml())
    assert "(nothing was committed or drawn)" in str(refused.value)
    assert f"mend the bureau's template in {tmp_path / 'broken'}" in str(refused.value)
    with Session(engine) as s:
        assert s.get(Round, ROUND) is None
    assert _events(engine) == []

    monkeypatch.delenv("SHUANGSUI_NOTIFY_TEMPLATE_DIR")  # mended: ours again
    service.commit_round(engine=engine, plan_text=plan_yaml())
    _templates(tmp_path / "broken-again", monkeypatch, "{{ inspector.nmae }} 同志")
    with pytest.raises(TemplateError, match=r"zh/assignment\.txt\.j2: .*'nmae'"):
        _draw(engine)
    assert service.get_round(engine, ROUND).status is RoundStatus.committed
    assert [name for name, _ in _events(engine)] == ["RoundCommitted"]  # no draw was made

    monkeypatch.delenv("SHUANGSUI_NOTIFY_TEMPLATE_DIR")
    assert _draw(engine, OTHER).status is RoundStatus.drawn  # nothing held it to any digits


def test_a_draw_lost_inside_its_transaction_is_audited_and_holds_the_round_to_its_seed(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The edited template renders the samples and fails on the real round's facts."""
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    _templates(
        tmp_path / "real-only",
        monkeypatch,
        '{% if round.key != "rehearsal-0001" %}{{ inspector.title }}{% endif %} 同志',
    )
    with pytest.raises(TemplateError, match="'title'"):
        _draw(engine)
    assert service.get_round(engine, ROUND).status is RoundStatus.committed
    (lost,) = [payload for name, payload in _events(engine) if name == "DrawNotRecorded"]
    assert lost["attempts"] == 1 and lost["collision"] == "" and lost["requested_by"] == "王五"
    assert lost["error"].startswith("TemplateError: template zh/assignment.txt.j2: ")
    assert "'title'" in lost["error"]

    with pytest.raises(DrawAlreadyMade, match=lost["seed"]):  # other digits: a second draw
        _draw(engine, OTHER)
    assert [name for name, _ in _events(engine)][-1] == "DrawRefused"

    monkeypatch.delenv("SHUANGSUI_NOTIFY_TEMPLATE_DIR")  # mended: the same digits, the same draw
    drawn = _draw(engine)
    assert drawn.status is RoundStatus.drawn and drawn.seed == lost["seed"]
