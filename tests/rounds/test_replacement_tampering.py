"""A replacement's record rewritten in the database, and a replacement at once with a finding's
signature (docs/draw-algorithm.md §14; rounds/replacements.py).

Before, ``round verify`` compared a ``team_change`` row with its ``MemberReplaced`` event on the
seat and the pick alone: a reason rewritten (the coordinator's page and the API show it from the
row) or the recorder changed passed. And on PostgreSQL a signature read the team before it
took any lock: a replacement committed in between left the withdrawn member's signature
recorded, and the version logged final, on a team that no longer had them. A verification
(``round verify``, a publish's bundle) read the replacements before the draw it re-runs and the
teams after it: a replacement recorded meanwhile was reported as a team stored against the
rules, on a database nobody had touched."""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from draw import core
from findings import importer
from findings import service as findings
from rounds import bundle
from rounds.models import TeamChange
from rounds.replacements import replace_member
from shuangsui.errors import IntegrityError, UserError
from tests.findings.factories import ROUND, drawn_round, finding, teams
from tests.races import _waiting_for_locks, held_while


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("note", "例行调整"),
        ("recorded_by", "王局长"),
        ("recorded_at", dt.datetime(2026, 12, 1, tzinfo=dt.UTC)),
        ("due_on", dt.date(2027, 3, 1)),  # a date given to a late check after the fact
    ],
    ids=["note", "by", "at", "due"],
)
def test_a_reason_or_recorder_rewritten_is_named_by_verify(
    engine: sa.Engine, column: str, value: object
) -> None:
    """The reason, who recorded it and when (a row backdated), and the date it gave the check
    (none here), are as its event says."""
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    replace_member(engine, ROUND, code, drawn[code][0], cause="conflict",
                   note="其配偶在该企业任职，申请回避", recorded_by="李协调")  # fmt: skip
    bundle.recompute(engine, ROUND)
    with Session(engine) as s:
        s.execute(sa.update(TeamChange).values({column: value}))
        s.commit()
    with pytest.raises(IntegrityError, match=f"replacement 1 .*differs: {column}"):
        bundle.recompute(engine, ROUND)


def _settled(engine: sa.Engine, pending: Future[Any], postgres: bool) -> None:
    """Until ``pending`` has ended or waits for a lock (PostgreSQL; 30 s at most): which of the
    two it does is what the test is about. On SQLite the held writer has the database's write
    lock, and the other queues behind it."""
    deadline = time.monotonic() + 30
    while postgres and not pending.done() and not _waiting_for_locks(engine):
        assert time.monotonic() < deadline, "the other write neither ended nor waited"
        time.sleep(0.01)


def _one_of_two(
    engine: sa.Engine,
    postgres: bool,
    read: threading.Event,
    go: threading.Event,
    first: tuple[str, Any],
    second: tuple[str, Any],
) -> list[str]:
    """Start ``first``, wait until it has read the team(s) (``read``), start ``second`` and
    let it end or wait for a lock, then let ``first`` go on (``go``): the names of the two
    that succeeded, each refused one left out."""
    outcomes: list[str] = []
    with ThreadPoolExecutor(2) as pool:
        started = pool.submit(first[1])
        try:
            assert read.wait(30), f"{first[0]} never read the team"
            other = pool.submit(second[1])
            _settled(engine, other, postgres)
        finally:
            go.set()
        for what, pending in ((first[0], started), (second[0], other)):
            try:
                pending.result(60)
                outcomes.append(what)
            except UserError:
                pass
    return outcomes


@pytest.mark.parametrize("write", ["sign", "submit"])
def test_a_signature_and_a_replacement_of_the_signer_at_once(
    engine: sa.Engine, db_url: str, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    """The withdrawn member's signature that completes the team (given alone, or with a version
    submitted signed by both) either comes first (the finding is final and the replacement
    refused) or after (the signer is no longer on the team): never both."""
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    if write == "sign":
        v = findings.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                            submitted_by=f"inspector:{second}", signers=[second])  # fmt: skip
    read, go = threading.Event(), threading.Event()
    real = findings.team_of

    def team_of(*args: Any, **kwargs: Any) -> list[str]:
        team = real(*args, **kwargs)
        if not read.is_set():
            read.set()  # the signature has read the team: held there
            assert go.wait(60), "the test never let the signature go on"
        return team

    monkeypatch.setattr(findings, "team_of", team_of)

    def sign() -> object:
        if write == "submit":
            both = [lead, second]
            return findings.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                                   submitted_by=f"inspector:{lead}", signers=both)  # fmt: skip
        return findings.sign_off(engine, round_key=ROUND, credit_code=code, version=v.version,
                                 inspector_id=lead)  # fmt: skip

    def replace() -> object:
        return replace_member(engine, ROUND, code, lead, cause="unavailable", note="病假",
                              recorded_by="李协调")  # fmt: skip

    postgres = db_url.startswith("postgresql")
    outcomes = _one_of_two(engine, postgres, read, go, ("signed", sign), ("replaced", replace))
    assert len(outcomes) == 1, outcomes
    if outcomes == ["signed"]:
        assert teams(engine)[code] == [lead, second]
    else:
        assert lead not in teams(engine)[code]
    bundle.recompute(engine, ROUND)


def test_a_replacement_while_verify_re_runs_the_draw_is_no_integrity_error(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]

    def replace() -> None:
        replace_member(engine, ROUND, code, drawn[code][1], cause="conflict", note="回避",
                       recorded_by="李协调")  # fmt: skip

    rc = held_while(
        monkeypatch, (core, "draw"), lambda: bundle.recompute(engine, ROUND), meanwhile=replace
    )
    assert len(rc.replacements) in (0, 1)  # the database as of one moment, before or after
    assert len(bundle.recompute(engine, ROUND).replacements) == 1


def test_a_findings_import_and_a_replacement_of_a_signer_at_once(
    engine: sa.Engine, db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A findings import that records a version signed by the whole team, and the replacement
    of one of its signers: one comes first, the other is refused."""
    drawn = drawn_round(engine)
    code = sorted(drawn)[0]
    lead, second = drawn[code]
    path = tmp_path / "结果.csv"
    path.write_text(
        f"轮次,统一社会信用代码,检查结果,检查日期,签字人员\n"
        f"{ROUND},{code},未发现问题,2026-12-10,{lead};{second}\n",
        encoding="utf-8",
    )
    read, go = threading.Event(), threading.Event()
    real = importer._teams

    def teams_held(*args: Any, **kwargs: Any) -> dict[tuple[str, str], list[str]]:
        found = real(*args, **kwargs)
        if not read.is_set():
            read.set()  # the import has read the teams: held there
            assert go.wait(60), "the test never let the import go on"
        return found

    monkeypatch.setattr(importer, "_teams", teams_held)
    why = {"cause": "left", "note": "已调离本局", "recorded_by": "李协调"}
    outcomes = _one_of_two(
        engine, db_url.startswith("postgresql"), read, go,
        ("imported", lambda: importer.import_file(engine, path, imported_by="李协调")),
        ("replaced", lambda: replace_member(engine, ROUND, code, lead, **why)),
    )  # fmt: skip
    assert len(outcomes) == 1, outcomes
    bundle.recompute(engine, ROUND)
