"""A merge and another writer of its leads at once, the interleaving forced (``_Hold``: one
thread held at one statement of its own until the test lets it go on).

* A finding made final just before the merge locks its two leads refuses the merge: the rule
  (``leads.service.merge_refusal``) is decided in the transaction that holds both leads, on the
  finding as it is then, not on an answer looked up before.
* On PostgreSQL, a listing that records answers while a merge into one of them runs, a round's
  commit that marks the merge's target targeted while the merge appends to the audit log (the
  deadlock forced on either side), and two leads merged into each other at once: each writer
  waits for the other or is retried, none ends in a deadlock error (SQLSTATE 40P01) for
  something the other did.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session

from findings import service as findings
from findings.schemas import FindingIn
from leads import service
from leads.models import Lead, LeadStatus
from rounds import audit
from rounds import service as rounds
from shuangsui.errors import UserError
from tests.leads.helpers import complaint, draw, team
from tests.races import assert_blocked
from tests.rounds.factories import plan_yaml, seed_registry

ME = "林科长"
OPEN = "merge into an open lead (received, accepted, targeted)"
MERGE, OTHER = "merge", "other-writer"
Matches = Callable[[str, Any], bool]


class _Run:
    """``work()`` in a thread of its own named ``name``; :meth:`outcome` waits for it."""

    def __init__(self, name: str, work: Callable[[], object]) -> None:
        self.future: Future[object] = Future()
        self.thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self.thread.start()

    def _run(self, work: Callable[[], object]) -> None:
        try:
            self.future.set_result(work())
        except BaseException as exc:  # the test reports it
            self.future.set_exception(exc)

    def outcome(self) -> tuple[object, BaseException | None]:
        """What ``work()`` returned and what it raised (None, or the exception)."""
        error = self.future.exception(120)
        return (None, error) if error is not None else (self.future.result(), None)

    def __repr__(self) -> str:
        return self.thread.name


class _Hold:
    """The thread named ``thread`` held once, at the first statement it sends that ``matches``
    (before the database runs it, or just after with ``after``), until :meth:`let_go`."""

    def __init__(self, thread: str, matches: Matches, *, after: bool = False) -> None:
        self.thread, self.matches, self.after = thread, matches, after
        self.reached, self.go = threading.Event(), threading.Event()
        self.when = "after_cursor_execute" if after else "before_cursor_execute"

    def __call__(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if threading.current_thread().name != self.thread or self.reached.is_set():
            return
        if self.matches(statement, params):
            self.reached.set()
            assert self.go.wait(120), "the test never let the held writer go on"

    def wait(self, run: _Run) -> None:
        assert self.reached.wait(60), f"{run} never reached the statement it is held at"

    def let_go(self) -> None:
        self.go.set()


@contextmanager
def _holding(engine: sa.Engine, *holds: _Hold) -> Iterator[None]:
    """``holds`` listening to ``engine`` (each let go, and removed, at the end)."""
    for hold in holds:
        event.listen(engine, hold.when, hold)
    try:
        yield
    finally:
        for hold in holds:
            hold.let_go()
            event.remove(engine, hold.when, hold)


def _locks_leads(engine: sa.Engine) -> Matches:
    """The statement that takes a writer's locks on leads: PostgreSQL's ``SELECT ... FROM lead
    ... FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` (the database's write lock)."""
    if engine.dialect.name == "sqlite":
        return lambda statement, _params: statement.lstrip().upper().startswith("BEGIN IMMEDIATE")
    return lambda statement, _params: "FROM lead" in statement and "FOR UPDATE" in statement


def _appends(event_name: str) -> Matches:
    """The insert of an ``event_name`` into the audit log (its head taken, not committed)."""
    return lambda statement, params: (
        statement.lstrip().startswith("INSERT INTO audit_event") and event_name in str(params)
    )


def _held_at_bulk_appends(monkeypatch: pytest.MonkeyPatch, hold: _Hold) -> None:
    """``hold`` (``after``) also at the audit log's bulk append (``rounds.audit.add_many``),
    which writes its rows through ``shuangsui.db.insert_rows``: on PostgreSQL a ``COPY``, no
    statement the engine's events see. Called as they would call it, the rows as its
    parameters, once the rows are written and before the transaction ends."""
    assert hold.after, "a bulk append is held only after its rows are written"
    written = audit.insert_rows

    def insert_rows(conn: sa.Connection, table: sa.Table, names: Any, rows: Any) -> None:
        written(conn, table, names, rows)
        if table.name == "audit_event":
            hold(conn, None, "INSERT INTO audit_event", rows)

    monkeypatch.setattr(audit, "insert_rows", insert_rows)


def _row(engine: sa.Engine, lead_id: int) -> Lead:
    with Session(engine) as s:
        lead = s.get(Lead, lead_id)
    assert lead is not None
    return lead


def _events(engine: sa.Engine, name: str) -> list[dict[str, Any]]:
    with Session(engine) as s:
        return [json.loads(e.payload) for e in audit.load_chain(s) if e.event == name]


def _submitted(engine: sa.Engine, key: str, code: str) -> Callable[[], object]:
    """A finding submitted by the team's lead inspector, not final: the rest of the team's
    sign-offs, which make it final (the function returned)."""
    members = team(engine, key, code)
    assert len(members) >= 2, members
    data = FindingIn.model_validate({"result": "mark_misused", "check_date": "2026-12-10"})
    v = findings.submit(engine, round_key=key, credit_code=code, data=data,
                        submitted_by=f"inspector:{members[0]}", signers=[members[0]])  # fmt: skip

    def made_final() -> None:
        for member in members[1:]:
            findings.sign_off(
                engine, round_key=key, credit_code=code, version=v.version, inspector_id=member
            )

    return made_final


def _targeted(engine: sa.Engine, *leads: int) -> str:
    """``leads`` accepted for CCC-01 and targeted by a round committed and drawn; its key."""
    for lead in leads:
        service.accept(engine, lead, check_item="CCC-01", by=ME)
    rnd = rounds.commit_round(engine=engine, plan_text=plan_yaml())
    draw(engine, rnd.round_key)
    assert {_row(engine, lead).status for lead in leads} == {LeadStatus.targeted}
    return rnd.round_key


def _postgres_only(engine: sa.Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks; SQLite's writers hold the database's write lock")


def test_a_finding_made_final_just_before_the_merge_locks_its_leads_refuses_it(
    engine: sa.Engine,
) -> None:
    """The merge has looked at nothing yet under its locks when the target's finding becomes
    final: it is refused as if the finding had been final before it started, the target is
    recorded answered, and nothing is merged (the report is not closed unread)."""
    code = seed_registry(engine)[5]
    target, report = complaint(engine, code), complaint(engine, code)
    key = _targeted(engine, target)
    made_final = _submitted(engine, key, code)

    hold = _Hold(MERGE, _locks_leads(engine))
    with _holding(engine, hold):
        merging = _Run(MERGE, lambda: service.merge(engine, report, into=target, by=ME))
        hold.wait(merging)
        made_final()
        hold.let_go()
        _, error = merging.outcome()

    assert isinstance(error, UserError), f"merged into a lead answered meanwhile: {error!r}"
    assert str(error) == f"into: lead {target} is answered; {OPEN}"
    assert _row(engine, report).status is LeadStatus.received
    answered = _row(engine, target)
    assert answered.status is LeadStatus.answered and answered.finding_id is not None
    assert _events(engine, "LeadMerged") == []
    assert [e["lead_id"] for e in _events(engine, "LeadAnswered")] == [target]


def test_a_listing_that_records_answers_while_a_merge_runs_neither_deadlocks(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two leads of one enterprise answered by one finding made final while a merge into the
    second waits to lock its leads. The listing records both answers and is held after the
    first one's audit entry; the merge is let go and waits for the listing, which ends. Both
    end without an error of the database: the listing with both answered, the merge refused
    (its target is answered)."""
    _postgres_only(engine)
    code = seed_registry(engine)[5]
    first, target, report = (complaint(engine, code) for _ in range(3))
    key = _targeted(engine, first, target)
    made_final = _submitted(engine, key, code)

    merge_held = _Hold(MERGE, _locks_leads(engine))
    listing_held = _Hold(OTHER, _appends("LeadAnswered"), after=True)
    _held_at_bulk_appends(monkeypatch, listing_held)  # the answers are appended in bulk
    with _holding(engine, merge_held, listing_held):
        merging = _Run(MERGE, lambda: service.merge(engine, report, into=target, by=ME))
        merge_held.wait(merging)
        made_final()
        listing = _Run(OTHER, lambda: service.listing(engine))
        listing_held.wait(listing)
        merge_held.let_go()
        assert_blocked(engine, merging.future, "the merge did not wait for the listing")
        listing_held.let_go()
        listed, listing_error = listing.outcome()
        _, merge_error = merging.outcome()

    assert listing_error is None, f"the listing failed: {listing_error!r}"
    assert isinstance(merge_error, UserError), f"the merge: {merge_error!r}"
    assert str(merge_error) == f"into: lead {target} is answered; {OPEN}"
    assert isinstance(listed, list)
    assert {lead.id: lead.status for lead in listed} == {
        first: LeadStatus.answered,
        target: LeadStatus.answered,
        report: LeadStatus.received,
    }
    assert sorted(e["lead_id"] for e in _events(engine, "LeadAnswered")) == [first, target]
    assert _events(engine, "LeadMerged") == []


def test_a_merge_deadlocked_with_a_round_commit_is_tried_again(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """The round's commit has appended ``RoundCommitted`` (the audit log's head taken) and is
    about to mark the merge's target targeted; the merge has locked both leads and waits for
    that head. Let go, the commit waits for the merge's lock: a deadlock, in which PostgreSQL
    ends the merge (it waited first). The merge is tried again, like every write that collided
    with another, and merges into the lead the round now targets."""
    _postgres_only(engine)
    caplog.set_level(logging.INFO, logger="shuangsui.writes")
    code = seed_registry(engine)[5]
    target, report = complaint(engine, code), complaint(engine, code)
    service.accept(engine, target, check_item="CCC-01", by=ME)

    commit_held = _Hold(OTHER, _appends("RoundCommitted"), after=True)
    with _holding(engine, commit_held):
        committing = _Run(OTHER, lambda: rounds.commit_round(engine=engine, plan_text=plan_yaml()))
        commit_held.wait(committing)
        merging = _Run(MERGE, lambda: service.merge(engine, report, into=target, by=ME))
        assert_blocked(engine, merging.future, "the merge did not wait for the audit log")
        commit_held.let_go()
        _, commit_error = committing.outcome()
        merged, merge_error = merging.outcome()

    assert commit_error is None, f"the round's commit failed: {commit_error!r}"
    assert merge_error is None, f"the merge failed: {merge_error!r}"
    tried_again = [r.getMessage() for r in caplog.records if r.name == "shuangsui.writes"]
    assert any("deadlock detected" in m for m in tried_again), tried_again  # it was forced
    assert isinstance(merged, Lead) and merged.status is LeadStatus.merged
    assert _row(engine, target).status is LeadStatus.targeted
    assert [(e["lead_id"], e["into"]) for e in _events(engine, "LeadMerged")] == [(report, target)]


def test_a_round_commit_deadlocked_with_a_merge_is_tried_again(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """The other side of the deadlock above. The merge has locked both leads and is about to
    append ``LeadMerged``; the round's commit appends ``RoundCommitted`` (the audit log's head
    taken) and waits for the merge's lock on the lead it targets. Let go, the merge waits for
    that head: a deadlock, in which PostgreSQL ends the commit (it waited first). The commit is
    tried again, as every write that collided with another (``shuangsui.writes.write``), and
    commits after the merge: the round targets the lead that carries the merged report on."""
    _postgres_only(engine)
    caplog.set_level(logging.INFO, logger="shuangsui.writes")
    code = seed_registry(engine)[5]
    target, report = complaint(engine, code), complaint(engine, code)
    service.accept(engine, target, check_item="CCC-01", by=ME)

    merge_held = _Hold(MERGE, _appends("LeadMerged"))
    with _holding(engine, merge_held):
        merging = _Run(MERGE, lambda: service.merge(engine, report, into=target, by=ME))
        merge_held.wait(merging)
        committing = _Run(OTHER, lambda: rounds.commit_round(engine=engine, plan_text=plan_yaml()))
        assert_blocked(engine, committing.future, "the commit did not wait for the merge's lock")
        merge_held.let_go()
        merged, merge_error = merging.outcome()
        committed, commit_error = committing.outcome()

    assert merge_error is None, f"the merge failed: {merge_error!r}"
    assert commit_error is None, f"the round's commit failed: {commit_error!r}"
    assert isinstance(committed, rounds.Round)
    tried_again = [r.getMessage() for r in caplog.records if r.name == "shuangsui.writes"]
    deadlocks = [m for m in tried_again if "deadlock detected" in m]
    assert len(deadlocks) == 1, tried_again  # it was forced, once
    assert deadlocks[0].startswith(f"round {committed.round_key}: committing"), deadlocks
    assert isinstance(merged, Lead) and merged.status is LeadStatus.merged
    assert _row(engine, target).status is LeadStatus.targeted
    assert _row(engine, target).round_key == committed.round_key
    with Session(engine) as s:
        order = [e.event for e in audit.load_chain(s)]
    assert order[-3:] == ["LeadMerged", "RoundCommitted", "LeadsTargeted"]  # after the merge


@pytest.mark.parametrize("lower_first", [True, False], ids=["lower-first", "higher-first"])
def test_two_leads_merged_into_each_other_at_once_wait_not_deadlock(
    engine: sa.Engine, lower_first: bool
) -> None:
    """The first merge has locked both leads and appended its ``LeadMerged``; the second, the
    other way round, waits for it (it locks the two in the same order) and is then refused:
    its target is merged. One lead carries the report on."""
    _postgres_only(engine)
    code = seed_registry(engine, enterprises=8)[0]
    low, high = complaint(engine, code), complaint(engine, code)
    one, other = (low, high) if lower_first else (high, low)

    first_held = _Hold(MERGE, _appends("LeadMerged"), after=True)
    with _holding(engine, first_held):
        first = _Run(MERGE, lambda: service.merge(engine, one, into=other, by=ME))
        first_held.wait(first)
        second = _Run(OTHER, lambda: service.merge(engine, other, into=one, by="另一协调员"))
        assert_blocked(engine, second.future, "the second merge did not wait for the first")
        first_held.let_go()
        _, first_error = first.outcome()
        _, second_error = second.outcome()

    assert first_error is None, f"the first merge failed: {first_error!r}"
    assert isinstance(second_error, UserError), f"the second merge: {second_error!r}"
    assert str(second_error) == f"into: lead {one} is merged; {OPEN}"
    assert (_row(engine, one).status, _row(engine, other).status) == (
        LeadStatus.merged, LeadStatus.received
    )  # fmt: skip
    assert [(e["lead_id"], e["into"]) for e in _events(engine, "LeadMerged")] == [(one, other)]
