"""``rounds.service.draw_round`` holds who asks to the rule of a round's texts
(``check_texts``) itself, as ``commit_round`` does: the command and the flows checked it, the
function called by anything else did not, and drew the round with U+202E or an ESC sequence in
the ``DrawMade`` event, or audited them in a refused second ceremony's ``DrawRefused``. Refused
naming the parameter, nothing drawn and nothing audited; a round stored with such text in who
asked for it still draws. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from rounds import service
from rounds.models import AuditEvent, Round, RoundKind, RoundStatus
from shuangsui.errors import UserError
from tests.rounds.factories import plan_yaml, seed_registry

DIGITS = "14142135623730950488016887"
OTHER_DIGITS = "27182818284590452353602874"


def _committed(engine: sa.Engine) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                         round_key="adhoc-1", reason="投诉举报", requested_by="林科长")  # fmt: skip


def _events(engine: sa.Engine) -> list[str]:
    with Session(engine) as session:
        return [e.event for e in session.exec(select(AuditEvent).order_by(AuditEvent.seq))]


def _draw(engine: sa.Engine, digits: str, requested_by: str) -> Round:
    return service.draw_round(
        engine=engine, round_key="adhoc-1", requested_by=requested_by,
        entropy=service.EntropyInput(witness_digits=digits, witnesses=("陈明",)),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("who", "said"),
    [
        ("林\u202e科长", r"^requested_by: contains the invisible character U\+202E"),
        ("林科长\x1b[31m", r"^requested_by: contains the control character U\+001B"),
        ("林" * 65, r"^requested_by: 65 characters, at most 64$"),
    ],
)
def test_a_draw_asked_for_with_such_a_name_is_refused_before_anything(
    engine: sa.Engine, who: str, said: str
) -> None:
    _committed(engine)
    before = _events(engine)
    with pytest.raises(UserError, match=said):
        _draw(engine, DIGITS, who)
    with Session(engine) as session:
        assert session.get(Round, "adhoc-1").status is RoundStatus.committed  # type: ignore[union-attr]
    assert _events(engine) == before
    drawn = _draw(engine, DIGITS, "林" * 64)  # the longest name is taken
    assert drawn.status is RoundStatus.drawn


def test_a_second_ceremony_with_such_a_name_is_refused_unaudited(engine: sa.Engine) -> None:
    """A drawn round offered other digits audits the refusal (``DrawRefused``) with who asked:
    not with a name the rule refuses."""
    _committed(engine)
    _draw(engine, DIGITS, "林科长")
    before = _events(engine)
    with pytest.raises(UserError, match=r"^requested_by: contains the invisible"):
        _draw(engine, OTHER_DIGITS, "王\u202e科长")
    assert _events(engine) == before
    with pytest.raises(service.DrawAlreadyMade):
        _draw(engine, OTHER_DIGITS, "王科长")
    assert _events(engine) == [*before, "DrawRefused"]


def test_a_round_stored_with_such_a_name_still_draws(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Committed before the rule (the check taken out, as the code before it was): the rule is
    for who asks now, not for what the round holds."""
    seed_registry(engine)
    with monkeypatch.context() as before:
        before.setattr(service, "check_texts", lambda **_: None)
        service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                             round_key="adhoc-1", reason="投诉",
                             requested_by="林\u202e科长")  # fmt: skip
    assert _draw(engine, DIGITS, "陈科长").status is RoundStatus.drawn
