"""A draw that other writers keep from being recorded: its event loses the race for the audit
log's head on every attempt. The draw is not returned as if made: ``DrawNotRecorded`` names the
round and the collision, nothing of the draw is kept, the round stays committed, and drawing
it again (the same entropy) records the same draw. The command says so on stderr (exit 6); the
flow's task tries again. Each draw so lost leaves a ``DrawNotRecorded`` entry in the audit log
(its seed, who asked, the attempts), written after them in a transaction of its own: an auditor
sees every draw made, kept or not, and the round can then be drawn only with that draw's
entropy (the same seed): other digits are refused as a second draw. The entry is retried as
the log's appends are; when it cannot be written even so, the log says so and the draw's own
error is raised as it was.

Collisions are forced two ways: a real writer on another connection that appends on the head
the draw reads and commits once the draw waits on it (PostgreSQL; on SQLite the draw's first
write takes the database's lock, so a writer makes it wait and it never collides), and, on both
databases, a second append on the head the draw's event took, in the draw's own transaction,
which the database refuses on the same keys as it refuses a racing writer's."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from flows import rounds as round_flows
from rounds import audit, bundle, service
from rounds.models import Assignment, AuditEvent, Round, RoundStatus, Selection
from shuangsui import config, writes
from shuangsui.cli import _register_groups, app
from shuangsui.errors import DrawNotRecorded
from tasks import rounds as round_tasks
from tests.rounds.factories import plan_yaml, seed_registry

ROUND = "ccc-2026-12"
DIGITS = "16180339887498948482045868"
WITNESSES = ("陈明",)


def _draw(engine: sa.Engine) -> Round:
    return service.draw_round(
        engine=engine,
        round_key=ROUND,
        entropy=service.EntropyInput(witness_digits=DIGITS, witnesses=WITNESSES),
        requested_by="王五",
    )


def _collide(
    monkeypatch: pytest.MonkeyPatch, times: int, event_type: type = audit.DrawMade
) -> list[str]:
    """The next ``times`` appends of an ``event_type`` (default: the draw's own event) collide
    on the audit log's head: another append on the head the event took. The seeds of the
    events so refused."""
    real, refused = audit.add_to, []

    def add_to(session: Session, round_key: str | None, event: object) -> AuditEvent:
        row = real(session, round_key, event)
        if isinstance(event, event_type) and len(refused) < times:
            refused.append(event.seed)  # type: ignore[attr-defined]
            other = {c: getattr(row, c) for c in ("seq", "at", "prev_hash", "payload")}
            session.execute(sa.insert(AuditEvent).values(
                **other, round_key=None, event="EntropyAwaited", hash="f" * 64,
            ))  # fmt: skip
        return row

    monkeypatch.setattr(audit, "add_to", add_to)
    return refused


def _nothing_drawn(engine: sa.Engine) -> None:
    with Session(engine) as s:
        rnd = s.get(Round, ROUND)
        assert rnd is not None
        assert (rnd.status, rnd.seed, rnd.drawn_at, rnd.entropy) == (
            RoundStatus.committed, None, None, None,
        )  # fmt: skip
        for table in (Selection, Assignment):
            assert s.exec(select(func.count()).select_from(table)).one() == 0
        events = [e.event for e in audit.load_chain(s, ROUND)]  # the chain verifies
    assert "DrawMade" not in events


def _not_recorded(engine: sa.Engine) -> list[dict]:
    """The payloads of the round's ``DrawNotRecorded`` entries, in the order of the chain
    (which verifies)."""
    with Session(engine) as s:
        chain = audit.load_chain(s, ROUND)
    return [json.loads(e.payload) for e in chain if e.event == "DrawNotRecorded"]


def _drawn_once(engine: sa.Engine, seed: str) -> None:
    rnd = service.get_round(engine, ROUND)
    assert rnd.status is RoundStatus.drawn and rnd.seed == seed
    with Session(engine) as s:
        events = [e.event for e in audit.load_chain(s, ROUND)]
    assert events.count("DrawMade") == 1
    assert bundle.recompute(engine, ROUND).result.seed == seed  # the stored draw verifies


def test_a_draw_collided_on_every_attempt_raises_and_leaves_the_round_to_draw_again(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    monkeypatch.setattr(service, "DRAW_ATTEMPTS", 3)
    refused = _collide(monkeypatch, times=3)

    with pytest.raises(DrawNotRecorded) as exc:
        _draw(engine)
    said = str(exc.value)
    assert said.startswith(f"round {ROUND}: the draw could not be recorded: 3 attempts in a row ")
    assert "audit_event" in said and "the round is still committed: draw it again" in said
    assert len(refused) == 3 and len(set(refused)) == 1
    _nothing_drawn(engine)
    (entry,) = _not_recorded(engine)  # the draw lost, in the audit log all the same
    assert entry == {"seed": refused[0], "requested_by": "王五", "attempts": 3,
                     "collision": entry["collision"], "error": ""}  # fmt: skip
    assert "audit_event" in entry["collision"] and entry["collision"] in said

    assert _draw(engine).seed == refused[0]  # the same entropy, the same draw, recorded now
    _drawn_once(engine, refused[0])
    with Session(engine) as s:
        events = [e.event for e in audit.load_chain(s, ROUND)]
    assert events.index("DrawNotRecorded") < events.index("DrawMade")


@pytest.mark.parametrize("trouble", ["collision", "database error"])
def test_a_draw_not_recorded_that_cannot_be_audited_either_is_logged_and_raised_as_it_was(
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    trouble: str,
) -> None:
    """The entry of the draw not recorded loses the log's head too (each of its attempts, as
    many as the draw's), or the database refuses it otherwise: the log says what the entry
    would have said, and the draw's own error is raised, unchanged; the round stays
    committed."""
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    monkeypatch.setattr(service, "DRAW_ATTEMPTS", 2)
    refused = _collide(monkeypatch, times=2)
    if trouble == "collision":
        lost = _collide(monkeypatch, times=2, event_type=audit.DrawNotRecorded)
    else:
        real = audit.add_to

        def add_to(session: Session, round_key: str | None, event: object) -> AuditEvent:
            if isinstance(event, audit.DrawNotRecorded):
                session.execute(sa.text("SELECT * FROM no_such_table"))
            return real(session, round_key, event)

        monkeypatch.setattr(audit, "add_to", add_to)
    caplog.set_level(logging.ERROR, logger="rounds.service")

    with pytest.raises(DrawNotRecorded) as exc:
        _draw(engine)
    assert str(exc.value).startswith(f"round {ROUND}: the draw could not be recorded: 2 attempts")
    assert "audit_event" in str(exc.value)
    if trouble == "collision":
        assert lost == [refused[0]] * 2  # tried as often as the draw, on its own seed
    _nothing_drawn(engine)
    assert _not_recorded(engine) == []
    (logged,) = [r for r in caplog.records if r.name == "rounds.service"]
    assert logged.levelno == logging.ERROR and logged.exc_info is not None
    assert logged.getMessage() == (
        f"round {ROUND}: the draw not recorded (seed {refused[0]}, 2 attempts, requested by 王五) "
        "could not be written to the audit log either"
    )


def test_a_draw_that_collides_once_is_recorded_by_its_next_attempt(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    refused = _collide(monkeypatch, times=1)

    assert _draw(engine).seed == refused[0]
    _drawn_once(engine, refused[0])


def _until_waiting(engine: sa.Engine, reached: threading.Event) -> None:
    """Until the draw waits for the other writer: on PostgreSQL, for its row of the audit
    log; on SQLite, for the database's lock, which its transaction takes first (only its start
    can be seen from here)."""
    assert reached.wait(60), "the draw never began to record itself"
    if engine.dialect.name != "postgresql":
        time.sleep(0.3)
        return
    waiting = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 60
    with engine.connect() as conn:
        while not conn.execute(waiting).scalar():
            assert time.monotonic() < deadline, "the draw never waited for the other writer"
            time.sleep(0.02)


@pytest.mark.parametrize("attempts", [None, 1])
def test_a_writer_appending_to_the_audit_log_as_the_draw_records_itself(
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    attempts: int | None,
) -> None:
    """PostgreSQL: the draw's event collides with the other writer's (at its flush) and the
    draw's next attempt records it; allowed one attempt, it raises and leaves the round
    committed. SQLite: the other writer's lock makes the draw wait; it never collides. (The
    draw records itself as every write does: ``shuangsui.writes.write``, which says so.)"""
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    if attempts:
        monkeypatch.setattr(service, "DRAW_ATTEMPTS", attempts)
    reached, real_lock = threading.Event(), writes.lock_writes

    def lock_writes(session: Session) -> None:  # the draw's write transaction begins
        reached.set()
        real_lock(session)

    monkeypatch.setattr(writes, "lock_writes", lock_writes)
    outcome: list[Round | BaseException] = []

    def draw() -> None:
        try:
            outcome.append(_draw(engine))
        except BaseException as exc:  # the test reports it
            outcome.append(exc)

    caplog.set_level(logging.INFO, logger="shuangsui.writes")
    with Session(engine) as other:
        audit.add_to(other, None, audit.EntropyAwaited(reason="another round waits"))
        thread = threading.Thread(target=draw)
        thread.start()
        try:
            _until_waiting(engine, reached)
        finally:
            other.commit()
    thread.join(300)

    (got,) = outcome
    postgres = engine.dialect.name == "postgresql"
    collided = [
        r for r in caplog.records
        if r.name == "shuangsui.writes"
        and "recording the draw: concurrent writer" in r.getMessage()
    ]  # fmt: skip
    assert len(collided) == (1 if postgres else 0), collided
    if postgres and attempts == 1:
        assert isinstance(got, DrawNotRecorded), got
        assert "1 attempts in a row collided" in str(got) and "audit_event" in str(got)
        _nothing_drawn(engine)
        (entry,) = _not_recorded(engine)  # after the other writer's, in a transaction of its own
        assert (entry["attempts"], entry["requested_by"]) == (1, "王五")
        return
    assert isinstance(got, Round), got
    _drawn_once(engine, got.seed or "")
    with Session(engine) as s:
        chain = audit.load_chain(s)
    (theirs,) = [e.seq for e in chain if e.event == "EntropyAwaited" and e.round_key is None]
    (ours,) = [e.seq for e in chain if e.event == "DrawMade"]
    assert ours > theirs  # the draw's event on the other's, the chain whole


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SHUANGSUI_PLANS_DIR", str(tmp_path))
    config.get_settings.cache_clear()
    _register_groups()
    return CliRunner()


def test_the_command_says_the_draw_was_not_recorded_and_a_rerun_draws(
    cli: CliRunner, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    monkeypatch.setattr(service, "DRAW_ATTEMPTS", 2)
    refused = _collide(monkeypatch, times=2)
    args = ["round", "draw", ROUND, "--digits", DIGITS, "--witness", WITNESSES[0]]

    failed = cli.invoke(app, [*args, "--by", "王五"])
    assert failed.exit_code == 6, failed.output
    (line,) = failed.stderr.splitlines()
    assert line.startswith(f"error: round {ROUND}: the draw could not be recorded: 2 attempts")
    assert line.endswith("draw it again (the same entropy gives the same draw)")
    assert "seed" not in failed.stdout
    assert f"round {ROUND}: committed" in cli.invoke(app, ["round", "show", ROUND]).output

    again = cli.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert refused[0] in again.stdout
    _drawn_once(engine, refused[0])
    listed = cli.invoke(app, ["round", "audit", ROUND]).stdout.splitlines()
    (lost,) = [line for line in listed if " DrawNotRecorded " in line]
    assert f'"seed":"{refused[0]}"' in lost and '"requested_by":"王五"' in lost
    assert listed.index(lost) < next(i for i, x in enumerate(listed) if " DrawMade " in x)


@pytest.mark.usefixtures("prefect_harness")
def test_the_flow_draws_again_and_fails_out_loud_when_every_try_collides(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The draw-round flow's task takes a draw not recorded for a passing trouble: it tries
    again (without its delays here); when every try collides, the flow fails naming the
    round."""
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    quick = round_tasks.draw_round_task.with_options(retry_delay_seconds=0)
    monkeypatch.setattr(round_flows, "draw_round_task", quick)
    monkeypatch.setattr(service, "DRAW_ATTEMPTS", 1)
    run = {"round_key": ROUND, "requested_by": "王五", "witness_digits": DIGITS,
           "witnesses": list(WITNESSES)}  # fmt: skip

    refused = _collide(monkeypatch, times=1 + 3)  # the first try and its three retries
    with pytest.raises(DrawNotRecorded, match=f"round {ROUND}: the draw could not be recorded"):
        round_flows.draw_round(**run)
    assert len(refused) == 4
    _nothing_drawn(engine)
    lost = _not_recorded(engine)  # each try, in the audit log
    assert [(e["seed"], e["requested_by"], e["attempts"]) for e in lost] == [
        (refused[0], "王五", 1)
    ] * 4

    refused = _collide(monkeypatch, times=1)  # the first try only (the four above are spent)
    summary = round_flows.draw_round(**run)
    assert summary["status"] == "drawn" and summary["seed"] == refused[0]
    assert Path(summary["bundle"]).is_dir()
    _drawn_once(engine, refused[0])


def test_after_a_draw_not_recorded_other_digits_are_refused_and_the_same_draw_is_recorded(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The redraw an operator could otherwise make until the result suits: the lost draw's
    entry holds the round to its seed. Other witness digits are refused (DrawAlreadyMade,
    audited as DrawRefused, nothing drawn); the lost draw's own digits record it."""
    from shuangsui.errors import DrawAlreadyMade

    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    monkeypatch.setattr(service, "DRAW_ATTEMPTS", 2)
    collided = _collide(monkeypatch, times=2)
    with pytest.raises(DrawNotRecorded):
        _draw(engine)
    monkeypatch.undo()
    lost, again = collided
    assert again == lost and _not_recorded(engine)[0]["seed"] == lost
    other = service.EntropyInput(witness_digits="27182818284590452353", witnesses=WITNESSES)
    with pytest.raises(DrawAlreadyMade, match=f"a draw with seed {lost} was made"):
        service.draw_round(engine=engine, round_key=ROUND, entropy=other, requested_by="赵六")
    _nothing_drawn(engine)
    with Session(engine) as s:
        chain = audit.load_chain(s, ROUND)
    refused = [json.loads(e.payload) for e in chain if e.event == "DrawRefused"]
    assert [(r["seed"], r["requested_by"]) for r in refused] == [(lost, "赵六")]
    assert _draw(engine).seed == lost
    _drawn_once(engine, lost)
