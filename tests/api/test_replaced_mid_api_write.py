"""A member replaced on the team (docs/draw-algorithm.md §14) while a write of theirs comes
through the API with their link's token: a finding submitted, a version signed, an evidence
file uploaded (``api/routes/findings.py``). Each write checks the link again in its own
transaction (``api.inspector_tokens.still_open``), which takes the round's row for share as a
replacement takes it for update: a replacement under way is waited for, then read, and the
write refused as the member's replacement (403 ``member-replaced``, saying who withdrew them,
when and who took the seat), nothing of it written; a replacement started after a write has
checked waits until the write has committed. The same answer as a request sent after the
replacement committed. Over real HTTP to the app served on loopback.

The two orders are PostgreSQL's only: SQLite serialises writers (the replacement holds the
database's write lock, a write's ``BEGIN IMMEDIATE`` waits for it before reading anything), so
there is no read of a team being changed to get wrong, and no row lock to wait on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from api import inspector_tokens
from findings import service
from findings.models import Evidence, EvidenceLink, FindingSignoff, FindingVersion
from rounds import audit, replacements
from rounds.models import AuditEvent, TeamChange
from shuangsui.clock import local_time
from shuangsui.config import get_settings
from tests.api.desk import Served
from tests.findings.factories import ROUND, finding, teams
from tests.races import assert_blocked
from tests.workspace.helpers import COORDINATOR, bearer, replace_in_team, replacement_held

WRITES = ["submit", "sign-off", "evidence"]
PHOTO = "现场记录：消防通道畅通。\n".encode()


def _send(served: Served, write: str, code: str, member: str) -> httpx.Response:
    """``member``'s ``write`` through the API with their link's token."""
    base = f"{served.base}/findings/{ROUND}/{code}"
    with httpx.Client(timeout=60, headers=bearer(code, member)) as http:
        if write == "submit":
            return http.post(base, json={"result": "no_problem", "check_date": "2026-12-10"})
        if write == "sign-off":
            return http.post(f"{base}/versions/1/sign-off")
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        return http.post(f"{base}/evidence?filename=现场记录.txt", content=PHOTO, headers=headers)


def _ready(served: Served, write: str, code: str, team: list[str]) -> None:
    """What ``write`` acts on: for a sign-off, version 1 submitted (and signed) by the other
    member, for the member to sign."""
    if write == "sign-off":
        service.submit(served.engine, round_key=ROUND, credit_code=code, data=finding(),
                       submitted_by=f"inspector:{team[1]}", signers=[team[1]])  # fmt: skip


def _written(engine: sa.Engine) -> tuple[int, ...]:
    """What a write of an inspector could have added: versions, sign-offs, evidence rows and
    their links to an assignment, audit entries."""
    with Session(engine) as s:
        return tuple(
            len(s.exec(select(model)).all())
            for model in (FindingVersion, FindingSignoff, Evidence, EvidenceLink, AuditEvent)
        )


def _refused_as_replaced(engine: sa.Engine, r: httpx.Response, code: str, member: str) -> None:
    """``r`` is the API's refusal of a replaced member's write: 403 ``member-replaced``,
    naming the coordinator who withdrew them, when (the ``team_change`` row's time, in the
    bureau's zone), the cause (its key, not the note) and who took the seat."""
    with Session(engine) as s:
        mine = col(TeamChange.credit_code) == code, col(TeamChange.withdrawn) == member
        change = s.exec(select(TeamChange).where(*mine)).one()
    at = local_time(change.recorded_at, get_settings().timezone).isoformat(timespec="minutes")
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"] == "urn:shuangsui:problem:member-replaced", problem
    assert problem["detail"] == (
        f"inspector {member} was replaced on this team: coordinator {COORDINATOR} withdrew "
        f"them at {at} (cause: conflict) and {change.replacement} took the seat; this link no "
        "longer records or signs anything for this check, and nothing of this request was "
        f"recorded: give what you have to the coordinator of {get_settings().bureau_name}"
    )
    assert "与企业负责人系亲属" not in r.text  # the note stays in the audit log


def _replacement_stands(engine: sa.Engine, code: str, member: str) -> None:
    """The member is off the team, and the round's audit chain ends with the replacement."""
    assert member not in teams(engine)[code]
    with Session(engine) as s:
        chain = [e.event for e in audit.load_chain(s, ROUND)]
    assert chain[-1] == "MemberReplaced", chain[-5:]


@pytest.mark.parametrize("write", WRITES)
def test_a_write_after_the_replacement_is_refused_naming_it(served: Served, write: str) -> None:
    """The replacement committed before the request: the request's own check refuses it with
    the answer a write refused inside its transaction gets below, nothing written. Both
    databases. Before, 403 ``token-refused`` "this token does not open this resource", the
    answer to a token that was never anyone's."""
    code, team = sorted(served.teams.items())[0]
    member = team[0]
    _ready(served, write, code, team)
    replace_in_team(served.engine, code, member)
    before = _written(served.engine)
    r = _send(served, write, code, member)
    _refused_as_replaced(served.engine, r, code, member)
    assert _written(served.engine) == before
    _replacement_stands(served.engine, code, member)


def _raced(served: Served, write: str) -> tuple[str, str]:
    """The check and the member of a race (PostgreSQL only: SQLite serialises writers), what
    ``write`` acts on made ready."""
    if served.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks; SQLite serialises writers")
    code, team = sorted(served.teams.items())[0]
    _ready(served, write, code, team)
    return code, team[0]


@pytest.mark.postgres
@pytest.mark.parametrize("write", WRITES)
def test_a_write_sent_while_a_replacement_is_under_way_waits_and_is_refused(
    served: Served, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    """The replacement first, held inside its transaction while the member's write arrives:
    the request's own check reads the team as committed (the member on it), the write's check
    waits for the replacement, then reads it and refuses the write: 403 ``member-replaced``,
    no version, sign-off, evidence row or audit entry of it. Before 662246c (a worktree of
    149f786) the write read the committed team and went on: a submission and a sign-off were
    refused by the service as 422 ``invalid-request`` ("FJ… is not on the team of …"), and
    the evidence file was recorded (201, its row and its link to the assignment); at 662246c,
    403 ``token-refused`` "FJ… is not on this assignment's team", the slug of a token that
    opens nothing here."""
    code, member = _raced(served, write)
    inside, go = replacement_held(monkeypatch)
    before = _written(served.engine)
    with ThreadPoolExecutor(2) as pool:
        replacing = pool.submit(replace_in_team, served.engine, code, member)
        try:
            assert inside.wait(30), "the replacement never reached its hooks"
            sending = pool.submit(_send, served, write, code, member)
            assert_blocked(served.engine, sending, "the write did not wait for the replacement")
        finally:
            go.set()
        replacing.result(60)
        r = sending.result(60)
    _refused_as_replaced(served.engine, r, code, member)
    *rows, events = before
    assert _written(served.engine) == (*rows, events + 1)  # the replacement's entry alone
    _replacement_stands(served.engine, code, member)


@pytest.mark.postgres
@pytest.mark.parametrize("write", WRITES)
def test_a_replacement_waits_for_an_api_write_that_checked_first(
    served: Served, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    """The write first: the member's write has checked their link inside its transaction
    (on the team) when the replacement starts; the replacement waits until the write has
    committed (its answer the write's own: 201 or 200), then withdraws the member; after a
    sign-off that made the finding final, it is refused as such and the member stays. Before,
    the replacement went ahead and the write, going on, found the member off the team."""
    code, member = _raced(served, write)
    checked, go = threading.Event(), threading.Event()
    real = inspector_tokens.still_open

    def still_open(*args: Any, **kwargs: Any) -> Callable[[Session], None]:
        check = real(*args, **kwargs)

        def checks_then_waits(session: Session) -> None:
            check(session)
            checked.set()
            assert go.wait(60), "the test never let the write go on"

        return checks_then_waits

    monkeypatch.setattr(inspector_tokens, "still_open", still_open)
    before = _written(served.engine)
    with ThreadPoolExecutor(2) as pool:
        sending = pool.submit(_send, served, write, code, member)
        try:
            assert checked.wait(30), "the write never checked"
            replacing = pool.submit(replace_in_team, served.engine, code, member)
            assert_blocked(served.engine, replacing, "replaced while a checked write was open")
        finally:
            go.set()
        r = sending.result(60)
        if write == "sign-off":  # the whole team has signed: the finding is final
            with pytest.raises(replacements.Refused, match="is final"):
                replacing.result(60)
        else:
            replacing.result(60)
    assert r.status_code == (200 if write == "sign-off" else 201), r.text
    versions, signoffs, files, links, events = before
    expected = {
        "submit": (versions + 1, signoffs + 1, files, links, events + 2),
        "sign-off": (versions, signoffs + 1, files, links, events + 1),
        "evidence": (versions, signoffs, files + 1, links + 1, events + 1),
    }
    assert _written(served.engine) == expected[write]
    with Session(served.engine) as s:
        chain = [e.event for e in audit.load_chain(s, ROUND)]
    then = {"submit": ["FindingRecorded", "MemberReplaced"], "sign-off": ["FindingSigned"],
            "evidence": ["MemberReplaced"]}[write]  # fmt: skip
    assert chain[-len(then) :] == then, chain[-5:]
    assert (member in teams(served.engine)[code]) is (write == "sign-off")
