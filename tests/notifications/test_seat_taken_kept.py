"""A member seated by a replacement (docs/draw-algorithm.md §14) whose 检查任务通知 has not
reached them keeps saying whose seat they took when the notice is written again.

Before, only the replacement just made was told whose seat they take: when a later change of
the same team (another member replaced, or the check given a new date, 延期) wrote the notices
not yet sent again, an earlier replacement's notice lost the paragraph and read as if the
draw had named them ("经'双随机、一公开'抽取，您被确定为…")."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from notifications import hooks
from notifications.links import idempotency_keys
from notifications.models import Notification, NotificationKind
from rounds.redates import move_due_date
from rounds.replacements import Replaced, replace_member
from tests.findings.factories import ROUND, drawn_round
from tests.notifications.test_replacement_messages import DRAWN, _co_inspectors, _name, _row

NEW_DATE = date(2027, 1, 29)
# the coordinator's words (why each member left, why the check moves): never in a notice
NOTES = ("其配偶在该企业任职", "赴外地参加培训三周", "企业负责人住院，停业一个月")


def _replace(engine: sa.Engine, code: str, who: str, cause: str, note: str) -> Replaced:
    return replace_member(engine, ROUND, code, who, cause=cause, note=note, recorded_by="李协调")


def _notice(engine: sa.Engine, who: str, code: str) -> Notification:
    return _row(engine, idempotency_keys(ROUND, NotificationKind.assignment.value)(who, code))


def _says_whose_seat(body: str, name: str, seat: str, cause: str) -> None:
    assert f"本检查组原{seat}{name}因{cause}退出本次检查。" in body
    assert DRAWN not in body
    assert not any(note in body for note in NOTES)


def _messages_of(engine: sa.Engine, who: str, kind: NotificationKind, code: str = "") -> int:
    with engine.connect() as c:
        n = Notification.__table__.c  # type: ignore[attr-defined]
        rows = c.execute(sa.select(n.body).where(n.recipient == who, n.kind == kind.value)).all()
    return sum(1 for (body,) in rows if code in body)


def test_a_second_replacement_on_the_team_keeps_the_first_ones_seat_said(
    engine: sa.Engine,
) -> None:
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    first = _replace(engine, code, lead, "unavailable", NOTES[0]).replacement.replacement
    _says_whose_seat(_notice(engine, first, code).body, _name(engine, lead)[0], "组长", "不能到场")
    other = _replace(engine, code, second, "conflict", NOTES[1]).replacement.replacement
    rewritten = _notice(engine, first, code)
    assert f"{_name(engine, other)[0]}（" in _co_inspectors(rewritten.body)  # written again
    _says_whose_seat(rewritten.body, _name(engine, lead)[0], "组长", "不能到场")
    _says_whose_seat(
        _notice(engine, other, code).body, _name(engine, second)[0], "检查人员", "回避"
    )


def test_a_new_date_keeps_the_replacements_seat_said(engine: sa.Engine) -> None:
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    first = _replace(engine, code, second, "left", NOTES[0]).replacement.replacement
    move_due_date(engine, ROUND, code, due_on=NEW_DATE, reason=NOTES[2], recorded_by="李协调")
    rewritten = _notice(engine, first, code)
    assert f"- 完成期限：{NEW_DATE.isoformat()}（自 " in rewritten.body  # written again
    _says_whose_seat(rewritten.body, _name(engine, second)[0], "检查人员", "调离")
    assert _messages_of(engine, first, NotificationKind.due_changed) == 0
    # the member the draw seated still reads as drawn
    assert DRAWN in _notice(engine, lead, code).body


def test_a_seat_that_changed_hands_twice_names_the_member_it_was_taken_from(
    engine: sa.Engine,
) -> None:
    hooks.install()
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, _ = drawn[code]
    first = _replace(engine, code, lead, "conflict", NOTES[0]).replacement.replacement
    then = _replace(engine, code, first, "unavailable", NOTES[1]).replacement.replacement
    _says_whose_seat(_notice(engine, then, code).body, _name(engine, first)[0], "组长", "不能到场")
    move_due_date(engine, ROUND, code, due_on=NEW_DATE, reason=NOTES[2], recorded_by="李协调")
    rewritten = _notice(engine, then, code)
    assert f"- 完成期限：{NEW_DATE.isoformat()}（自 " in rewritten.body
    _says_whose_seat(rewritten.body, _name(engine, first)[0], "组长", "不能到场")
    assert f"原组长{_name(engine, lead)[0]}" not in rewritten.body
    # the member seated and withdrawn since is off the team: no notice left to say anything
    assert _messages_of(engine, first, NotificationKind.assignment, code) == 0
