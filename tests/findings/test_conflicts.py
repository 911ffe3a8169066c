"""A write that comes second is a Conflict naming what won; an identical resubmission is a
sign-off (the other member) or nothing (the same one); collisions are retried, never leaked."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from findings import service
from rounds import audit
from shuangsui import writes
from shuangsui.errors import Conflict, NotFound
from tests.findings.factories import ROUND, drawn_round, finding


def _events(engine: sa.Engine, code: str) -> list[tuple[str, dict[str, Any]]]:
    with Session(engine) as s:
        chain = audit.load_chain(s, ROUND)
    out = [(e.event, json.loads(e.payload)) for e in chain]
    return [(name, p) for name, p in out if p.get("credit_code") == code]


class _Orig(Exception):
    def __init__(self, message: str, sqlstate: str | None = None):
        super().__init__(message)
        self.sqlstate = sqlstate


def test_collisions_are_retried_then_a_conflict(engine: sa.Engine, monkeypatch) -> None:
    monkeypatch.setattr(writes.time, "sleep", lambda _: None)
    calls: list[int] = []

    def always_collides(session: Session) -> None:
        calls.append(1)
        raise IntegrityError("INSERT", {}, _Orig("duplicate key"))

    with pytest.raises(Conflict, match="too many writers at once"):
        writes.write(engine, always_collides, what="finding x")
    assert len(calls) == writes.ATTEMPTS

    def serialization_failure_once(session: Session) -> str:
        calls.append(2)
        if calls.count(2) == 1:
            raise OperationalError("UPDATE", {}, _Orig("could not serialize", "40001"))
        return "done"

    assert writes.write(engine, serialization_failure_once, what="finding x") == "done"
    assert calls.count(2) == 2

    def broken(session: Session) -> None:
        raise OperationalError("SELECT", {}, _Orig("disk I/O error", "58030"))

    with pytest.raises(OperationalError, match="disk I/O"):
        writes.write(engine, broken, what="finding x")


def test_a_collision_may_end_in_what_the_winner_decided_or_in_the_callers_error(
    engine: sa.Engine, monkeypatch
) -> None:
    """``decided`` runs after each collision: what it returns, when not None, is the outcome
    (another writer decided it). ``gave_up`` makes the error when ``attempts`` collided, from
    the last collision's first line."""
    monkeypatch.setattr(writes.time, "sleep", lambda _: None)
    calls: list[int] = []

    def collides(session: Session) -> str:
        calls.append(1)
        raise IntegrityError("INSERT", {}, _Orig(f"duplicate key {len(calls)}\nDETAIL: (x)=(1)"))

    answers = iter([None, "what the winner decided"])
    decided = writes.write(engine, collides, what="round x", decided=lambda _: next(answers))
    assert (decided, len(calls)) == ("what the winner decided", 2)

    class GaveUp(Exception):
        pass

    calls.clear()
    with pytest.raises(GaveUp) as gave_up:
        writes.write(engine, collides, what="round x", attempts=3, gave_up=GaveUp)
    assert (str(gave_up.value), len(calls)) == ("duplicate key 3", 3)


def test_a_submission_that_comes_second_is_told_what_won(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    (code, team), (fresh, _) = sorted(teams.items())[:2]
    lead = f"inspector:{team[0]}"
    service.submit(engine, round_key=ROUND, credit_code=code, data=finding(), submitted_by=lead)
    with pytest.raises(Conflict, match="needs a reason") as first_again:
        service.submit(
            engine,
            round_key=ROUND,
            credit_code=code,
            data=finding("other"),
            submitted_by="coordinator:王五",
        )
    named = first_again.value.details["latest_version"]
    assert named["version"] == 1 and named["submitted_by"] == lead  # type: ignore[index]
    with pytest.raises(Conflict, match="version 0 is superseded"):
        service.submit(
            engine,
            round_key=ROUND,
            credit_code=code,
            data=finding("other", reason="更正"),
            submitted_by="coordinator:王五",
            base_version=0,
        )
    v2 = service.submit(
        engine,
        round_key=ROUND,
        credit_code=code,
        data=finding("other", reason="更正"),
        submitted_by="coordinator:王五",
        base_version=1,
    )
    assert v2.version == 2
    with pytest.raises(Conflict, match="version 1 is superseded") as late:
        service.submit(
            engine,
            round_key=ROUND,
            credit_code=code,
            data=finding("not_disclosed", reason="另一更正"),
            submitted_by="coordinator:赵六",
            base_version=1,
        )
    assert late.value.details["latest_version"]["version"] == 2  # type: ignore[index]
    assert late.value.details["latest_version"]["submitted_by"] == "coordinator:王五"  # type: ignore[index]
    with pytest.raises(Conflict, match="version 1 is superseded"):
        service.sign_off(engine, round_key=ROUND, credit_code=code, version=1, inspector_id=team[1])
    with pytest.raises(NotFound, match="no version 3"):
        service.sign_off(engine, round_key=ROUND, credit_code=code, version=3, inspector_id=team[1])
    with pytest.raises(NotFound, match="no version 2 yet"):
        service.submit(
            engine,
            round_key=ROUND,
            credit_code=fresh,
            data=finding(),
            submitted_by="coordinator:王五",
            base_version=2,
        )
    assert [v.version for v in service.history(engine, ROUND, code).versions] == [1, 2]


def test_identical_resubmission_signs_for_the_other_member_only(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    code, (lead, second) = sorted(teams.items())[0]

    def send(inspector: str) -> int:
        return service.submit(
            engine,
            round_key=ROUND,
            credit_code=code,
            data=finding(description="现场检查"),
            submitted_by=f"inspector:{inspector}",
            signers=[inspector],
        ).version

    assert send(lead) == 1
    before = _events(engine, code)
    assert send(lead) == 1  # the same member again: a retry, nothing recorded
    assert _events(engine, code) == before
    assert service.history(engine, ROUND, code).states[0].missing == (second,)
    assert send(second) == 1  # the other member, the same content: their sign-off
    hist = service.history(engine, ROUND, code)
    assert len(hist.versions) == 1 and hist.states[0].final and hist.public is not None
    assert _events(engine, code)[len(before) :] == [
        (
            "FindingSigned",
            {"credit_code": code, "version": 1, "inspector_id": second, "final": True},
        )
    ]
    assert send(second) == 1 and len(_events(engine, code)) == len(before) + 1


def test_concurrent_service_submissions_one_wins(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    code, team = sorted(teams.items())[0]
    n = 6
    barrier = threading.Barrier(n)
    outcomes: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            outcomes[i] = service.submit(
                engine,
                round_key=ROUND,
                credit_code=code,
                data=finding(description=f"#{i}"),
                submitted_by=f"coordinator:c{i}",
            )
        except Exception as exc:  # the test looks at what each got
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    won = [o for o in outcomes if not isinstance(o, Exception)]
    lost = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(won) == 1 and won[0].version == 1, outcomes
    assert len(lost) == n - 1, outcomes
    assert {e.details["latest_version"]["submitted_by"] for e in lost} == {won[0].submitted_by}
    assert len(service.history(engine, ROUND, code).versions) == 1


def test_a_correction_is_based_on_what_it_found_on_arrival(engine: sa.Engine, monkeypatch) -> None:
    """A correction without base_version that waits behind another one is told it came second
    (it does not silently become the version after it)."""
    teams = drawn_round(engine)
    code, team = sorted(teams.items())[0]
    service.submit(engine, round_key=ROUND, credit_code=code, data=finding(), submitted_by="x")
    read_base = threading.Event()
    real = service.latest_version_number

    def reads_then_says_so(*args: Any) -> int:
        number = real(*args)
        read_base.set()
        return number

    monkeypatch.setattr(service, "latest_version_number", reads_then_says_so)
    outcome: list[Any] = []

    def second() -> None:
        try:
            outcome.append(
                service.submit(
                    engine,
                    round_key=ROUND,
                    credit_code=code,
                    data=finding("other", reason="后到"),
                    submitted_by="coordinator:赵六",
                )
            )
        except Exception as exc:  # the test looks at it
            outcome.append(exc)

    waiting = threading.Thread(target=second)
    with Session(engine, expire_on_commit=False) as first:  # holds the finding's write lock
        writes.lock_writes(first)
        service.add_version(
            first,
            round_key=ROUND,
            credit_code=code,
            data=finding("not_disclosed", reason="先到"),
            submitted_by="coordinator:王五",
            signers=[],
            via="api",
        )
        waiting.start()
        assert read_base.wait(30)
        first.commit()
    waiting.join(60)
    assert isinstance(outcome[0], Conflict), outcome
    assert outcome[0].details["latest_version"]["version"] == 2
    assert outcome[0].details["latest_version"]["submitted_by"] == "coordinator:王五"
    assert [v.version for v in service.history(engine, ROUND, code).versions] == [1, 2]
