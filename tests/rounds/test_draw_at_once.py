"""Two draws of one round at once with different witness digits (the command run twice, at
two desks): exactly one draw and one seed; the other attempt is refused, as a later one is,
and its refusal is in the audit log.

The interleaving is forced: the first attempt is held with its draw computed and not yet
recorded, while the second runs to its end."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from draw import core
from rounds import audit
from rounds import service as rounds
from rounds.models import RoundStatus
from shuangsui.errors import DrawAlreadyMade
from tests.findings.factories import ROUND
from tests.rounds.factories import plan_yaml, seed_registry

FIRST, SECOND = "3141592653589793238462643", "2718281828459045235360287"


def _draw(engine: sa.Engine, digits: str) -> rounds.Round:
    return rounds.draw_round(
        engine=engine,
        round_key=ROUND,
        entropy=rounds.EntropyInput(witness_digits=digits, witnesses=("张三",)),
    )


def test_a_second_draw_decided_meanwhile_refuses_the_first_attempts_digits(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_registry(engine)
    rounds.commit_round(engine=engine, plan_text=plan_yaml())
    real_draw, first = core.draw, threading.current_thread()
    second: list[rounds.Round | BaseException] = []

    def run_second() -> None:
        try:
            second.append(_draw(engine, SECOND))
        except BaseException as exc:  # the test reports it
            second.append(exc)

    def draw(*args: object, **kwargs: object) -> core.DrawResult:
        result = real_draw(*args, **kwargs)  # type: ignore[arg-type]
        if threading.current_thread() is first and not second:
            other = threading.Thread(target=run_second)
            other.start()
            other.join(300)
        return result

    monkeypatch.setattr(core, "draw", draw)
    with pytest.raises(DrawAlreadyMade, match="the entropy offered now was not used"):
        _draw(engine, FIRST)

    (drawn,) = second
    assert isinstance(drawn, rounds.Round), drawn
    final = rounds.get_round(engine, ROUND)
    assert final.status is RoundStatus.drawn and final.seed == drawn.seed
    assert [r["digits"] for r in final.entropy or [] if "digits" in r] == [SECOND]
    with Session(engine) as session:
        events = [e.event for e in audit.load_chain(session, ROUND)]
    assert events.count("DrawMade") == 1
    assert events.count("DrawRefused") == 1
