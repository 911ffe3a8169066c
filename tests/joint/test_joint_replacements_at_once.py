"""A joint round's replacements (docs/draw-algorithm.md §13.7): the new member's notice, and
two replacements of one bureau at once.

The new member's 检查任务通知 says whose seat they take and why (the cause, never the reason),
as in a bureau's own round, and is queued in the transaction that holds the statement: a crash
after it leaves both, a failure in it neither, and the statement taken again tells no one twice.

Two replacements by one bureau at once, on PostgreSQL, the interleaving forced: the first is
held inside its transaction once it has read its part of the round under the joint round's row
lock, the second is started and seen waiting for that lock, then the first is let go. They are
numbered 1 and 2, the second picked on the teams with the first applied (``verify_joint.py``
redoes both picks). At a participant, the same bureau's n=1 and n=2 POSTed at once: the one
that takes the lock second reads what the first held. n=2 first is refused (422, "the next
replacement is 1"), and taken when sent again after n=1, as ``joint push`` or a pull sends it.
SQLite's writers hold the database's write lock from their first statement: nothing to
interleave there."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from exchange.errors import SyncRejected
from joint import client, replacements, service, withdraw
from joint.bundle import write_bundle
from joint.models import JointRound, JointStatement
from joint.replace import teams_as_they_stand
from joint.replacements import held_envelopes, teams_now
from joint.withdraw import replace_member
from notifications import facts
from notifications.models import Notification
from tests.joint.test_protocol import Trio, _verify, trio  # noqa: F401  (fixture)
from tests.joint.world import NAMES, joint_yaml
from tests.races import assert_blocked

FJ, SH, ZJ = "350000", "310000", "330000"
JOINT = "jt-2026-12"
NOTE = "与该企业负责人系亲属"  # the reason: our audit log only


def _drawn(t: Trio, **more: int) -> tuple[str, list[list[str]]]:
    """``JOINT`` committed, revealed and drawn at every bureau (``more``: a bureau's members
    per team); the first enterprise's team."""
    text = joint_yaml(JOINT, more=more)
    for code in NAMES:
        service.commit(t.b[code].engine, t.me[code], text)
    for code in NAMES:
        t.reveal(code, JOINT)
    for code in NAMES:
        service.draw(t.b[code].engine, t.me[code], JOINT)
    with Session(t.b[FJ].engine) as s:
        row = s.get(JointRound, JOINT)
        assert row is not None and row.outcome is not None
        code, team = sorted(row.outcome["teams"].items())[0]
    return code, team


def _replace(t: Trio, code: str, credit_code: str, inspector: str, cause: str) -> dict:
    return replace_member(t.b[code].engine, t.me[code], JOINT, credit_code, inspector,
                          cause=cause, note=NOTE, recorded_by="张三").statement  # fmt: skip


def _held(engine: sa.Engine, bureau: str = SH) -> list[dict]:
    """``bureau``'s replacement statements held, in the order they were received."""
    with Session(engine) as s:
        q = select(JointStatement).where(
            JointStatement.joint_key == JOINT, JointStatement.kind == "replacement",
            JointStatement.bureau == bureau,
        )  # fmt: skip
        rows = sorted(s.exec(q).all(), key=lambda r: r.received_at)
    return [json.loads(r.envelope)["statement"] for r in rows]


def _assignments(engine: sa.Engine, inspector: str, credit_code: str) -> list[Notification]:
    """``inspector``'s 检查任务通知 for ``credit_code`` in the outbox."""
    with Session(engine) as s:
        q = select(Notification).where(
            Notification.kind == "assignment", Notification.recipient == inspector
        )
        return [n for n in s.exec(q).all() if n.payload["credit_code"] == credit_code]


def _row(engine: sa.Engine) -> JointRound:
    with Session(engine) as s:
        row = s.get(JointRound, JOINT)
        assert row is not None
        return row


def _name(engine: sa.Engine, inspector: str) -> str:
    with Session(engine) as s:
        return facts.inspectors(s, [inspector])[inspector].name


# PostgreSQL's row locks; SQLite's writers hold the database's write lock from the start
postgres_only = pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


def test_the_new_member_is_told_whose_seat_they_take_with_the_statement(
    trio: Trio,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    t = trio
    code, team = _drawn(t)
    gone, sh = team[1][1], t.b[SH].engine

    def crash(*_: Any) -> list[str]:
        raise RuntimeError("the process died before sending the statement")

    # a crash once the statement is held: its new member's notice is held with it
    monkeypatch.setattr(withdraw, "send", crash)
    with pytest.raises(RuntimeError, match="died"):
        _replace(t, SH, code, gone, "conflict")
    monkeypatch.undo()
    (st,) = _held(sh)
    new = st["replacement"]
    (notice,) = _assignments(sh, new, code)
    name = _name(sh, gone)
    assert f"本检查组原检查人员{name}因回避退出本次检查" in notice.body
    assert "由本批次公开的随机种子确定由您接替其位置" in notice.body
    assert NOTE not in notice.body and "亲属" not in notice.body

    # taken again: our statement pulled back from a partner, the draw run again (which queues
    # any notice missing); the notice stays one, as it was written
    service.push(sh, t.me[SH], JOINT)
    service.pull(sh, t.me[SH], JOINT)
    service.draw(sh, t.me[SH], JOINT)
    assert [n.body for n in _assignments(sh, new, code)] == [notice.body]
    assert _held(sh) == [st]

    # Zhejiang replaces its member of that team: the new member's notice, not gone yet, is
    # written again naming the team as it stands, and still says whose seat they take
    zj = _replace(t, ZJ, code, team[2][1], "unavailable")
    (notice,) = _assignments(sh, new, code)
    assert f"{ZJ} {zj['replacement']}" in notice.body and f"{ZJ} {team[2][1]}" not in notice.body
    assert f"本检查组原检查人员{name}因回避退出本次检查" in notice.body

    # a failure inside the transaction: neither the statement nor any notice
    with Session(sh) as s:
        before = sorted((n.idempotency_key, n.body) for n in s.exec(select(Notification)).all())

    def fail(*_: Any) -> None:
        raise RuntimeError("the audit log refused the event")

    monkeypatch.setattr(withdraw.audit, "add_to", fail)
    with pytest.raises(RuntimeError, match="audit log"):
        _replace(t, SH, code, new, "unavailable")
    monkeypatch.undo()
    assert _held(sh) == [st]
    with Session(sh) as s:
        after = sorted((n.idempotency_key, n.body) for n in s.exec(select(Notification)).all())
    assert after == before


class Held:
    """The first caller, in any thread, of ``module.name`` held once that function returned
    (its transaction has read what it reads under the joint round's lock) until :attr:`go`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> None:
        self.reached, self.go = threading.Event(), threading.Event()
        real = getattr(module, name)

        def held(*args: Any, **kwargs: Any) -> Any:
            out = real(*args, **kwargs)
            if not self.reached.is_set():
                self.reached.set()
                assert self.go.wait(120), "the test never let the held writer go on"
            return out

        monkeypatch.setattr(module, name, held)


@contextmanager
def one_held(held: Held) -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as pool:
        try:
            yield pool
        finally:
            held.go.set()


def _first_then_second(
    engine: sa.Engine, held: Held, first: Callable[[], Any], second: Callable[[], Any]
) -> tuple[Any, Any]:
    """``first()`` held in its transaction, ``second()`` started and seen waiting for a lock in
    ``engine``'s database, then both let go: what each returned (or the exception raised)."""
    with one_held(held) as pool:
        one = pool.submit(first)
        assert held.reached.wait(60), f"the first writer never read its part: {one}"
        two = pool.submit(second)
        assert_blocked(engine, two, "the second writer did not wait for the first")
        held.go.set()
        return _outcome(one), _outcome(two)


def _outcome(done: Future[Any]) -> Any:
    """What a call returned, or the exception it raised."""
    return done.exception(60) or done.result(60)


@postgres_only
def test_two_replacements_of_one_bureau_at_once_are_numbered_in_turn(
    trio: Trio,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Shanghai seats two per team and withdraws both of one team at once."""
    t = trio
    code, team = _drawn(t, **{SH: 2})
    assert [b for b, _ in team] == [FJ, SH, SH, ZJ]
    a, b = team[1][1], team[2][1]
    held = Held(monkeypatch, withdraw, "bureau_part")
    first, second = _first_then_second(
        t.b[SH].engine, held,
        lambda: _replace(t, SH, code, a, "conflict"),
        lambda: _replace(t, SH, code, b, "unavailable"),
    )  # fmt: skip
    assert (first["n"], first["withdrawn"]) == (1, a)
    assert (second["n"], second["withdrawn"]) == (2, b)
    assert _held(t.b[SH].engine) == [first, second]
    for c in (FJ, ZJ):  # each POST may have come before the other: a pull takes what it missed
        service.pull(t.b[c].engine, t.me[c], JOINT)
    drawn = _row(t.b[FJ].engine).outcome["teams"]  # type: ignore[index]
    stand = teams_as_they_stand(drawn, [first, second])
    assert stand[code] == [team[0], [SH, first["replacement"]], [SH, second["replacement"]],
                           team[3]]  # fmt: skip
    for c in NAMES:
        assert teams_now(t.b[c].engine, _row(t.b[c].engine)) == stand

    bundle = tmp_path / "bundle"
    write_bundle(t.b[SH].engine, JOINT, bundle)
    out = _verify(bundle)
    assert out.startswith("0 ") and "replacements: 2 ok, 1 teams changed" in out, out
    assert f"replacement 2 of {SH} ok: {code} position 2: {b} -> {second['replacement']}" in out


@postgres_only
@pytest.mark.parametrize("arrives_first", [1, 2])
def test_one_bureaus_replacements_posted_at_once(
    trio: Trio,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    arrives_first: int,
) -> None:
    """Shanghai's n=1 and n=2 reach Zhejiang at once, one holding the joint round's lock
    while the other waits for it. n=1 first: both are held, in order. n=2 first: refused as
    not the next (422), n=1 held; sent again, n=2 is held."""
    t = trio
    code, team = _drawn(t, **{SH: 2})
    monkeypatch.setattr(withdraw, "send", lambda *_: [])  # recorded; sent by the test
    sts = [_replace(t, SH, code, team[1][1], "conflict"),
           _replace(t, SH, code, team[2][1], "unavailable")]  # fmt: skip
    monkeypatch.undo()
    with Session(t.b[SH].engine) as s:
        envs = held_envelopes(s, JOINT)[SH]
    me, zj = t.me[SH], t.b[ZJ].engine

    def post(n: int) -> Callable[[], dict]:
        return lambda: client.post_statement(me.partners[ZJ], me.key, JOINT, envs[n - 1])

    held = Held(monkeypatch, replacements, "bureau_part")  # Zhejiang's, serving in a thread
    later = 3 - arrives_first
    one, two = _first_then_second(zj, held, post(arrives_first), post(later))
    if arrives_first == 1:
        assert (one["result"], two["result"]) == ("replacement held", "replacement held")
    else:
        assert isinstance(one, SyncRejected) and "422" in str(one), one
        assert f"n: 2, but the next replacement of {SH} is 1" in str(one)
        assert two["result"] == "replacement held"
        assert post(2)()["result"] == "replacement held"  # sent again (joint push, a pull)
    assert _held(zj) == sts
    assert teams_now(zj, _row(zj)) == teams_now(t.b[SH].engine, _row(t.b[SH].engine))
