"""``POST /rounds/{round}/teams/{code}/replacements`` and ``GET /rounds/{round}/replacements``
(api/replacements.py; docs/draw-algorithm.md §14) on a real server on loopback: a coordinator
withdraws a member and the seat goes to the seed's pick; who may call it, what bodies it takes,
its refusals as problem documents naming the field, and requests sent at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import replacements as api_replacements
from api import tokens
from notifications.links import assignment_token
from rounds import replacements as service
from rounds.models import Assignment, Round, RoundStatus, TeamChange
from shuangsui.config import get_settings
from shuangsui.errors import UserError
from tests.api.desk import ME, Served, bearer, path
from tests.findings.factories import ROUND, final_finding, teams
from tests.findings.live import Call, race
from tests.races import assert_blocked, held_while


def body(inspector: str, cause: str = "conflict", note: str = "申请回避") -> dict[str, str]:
    return {"inspector_id": inspector, "cause": cause, "note": note}


def _stored(engine: sa.Engine) -> list[tuple[int, str, str]]:
    with Session(engine) as s:
        rows = s.exec(select(TeamChange).order_by(TeamChange.n)).all()
    return [(r.n, r.credit_code, r.withdrawn) for r in rows]


def test_a_coordinator_replaces_a_member_and_lists_the_replacements(served: Served) -> None:
    code, (lead, second) = sorted(served.teams.items())[0]
    assert served.listed() == []
    r = served.post(code, body(lead, "unavailable", "住院治疗"))
    assert r.status_code == 201, r.text
    got = r.json()
    now = teams(served.engine)[code]
    assert now[1] == second and now[0] not in (lead, second)
    assert {
        k: got[k]
        for k in ("n", "credit_code", "position", "withdrawn", "replacement", "cause", "team")
    } == {
        "n": 1,
        "credit_code": code,
        "position": 0,
        "withdrawn": lead,
        "replacement": now[0],
        "cause": "unavailable",
        "team": now,
    }
    assert got["note"] == "住院治疗" and got["recorded_by"] == ME and got["cautions"] == []
    (listed,) = served.listed()
    answer_only = ("team", "cautions", "still_on", "due_soon")
    assert listed == {k: v for k, v in got.items() if k not in answer_only}
    # withdrawn as unable to attend: the member's other teams of the round, which still hold them
    assert got["still_on"] == sorted(c for c, t in teams(served.engine).items() if lead in t)
    assert got["still_on"] and code not in got["still_on"]


def test_the_answer_names_what_the_registry_now_holds_against_the_replacement(
    served: Served,
) -> None:
    import datetime as dt

    from registry.models import Conflict, Inspector

    code, team = sorted(served.teams.items())[0]
    now = dt.datetime.now(dt.UTC)
    with Session(served.engine) as s:  # declared after the commitment: the pick cannot see it
        for who in s.exec(select(Inspector.inspector_id)).all():
            s.add(
                Conflict(
                    inspector_id=who,
                    credit_code=code,
                    reason="近亲属任职",
                    declared_on=now.date(),
                    updated_at=now,
                )
            )
        s.commit()
    r = served.post(code, body(team[1], "left", "调离"))
    assert r.status_code == 201 and r.json()["cautions"] == ["conflict"], r.text


def test_who_may_call_it(served: Served) -> None:
    code, team = sorted(served.teams.items())[0]
    secret = get_settings().secret_key.get_secret_value()
    inspector = assignment_token(secret, ROUND, code, team[0])
    other_bureau = tokens.create_coordinator(served.engine, "外省", "320000")
    nobody = httpx.post(f"{served.base}{path(code)}", json=body(team[0]))
    malformed = served.post(code, body(team[0]), token="ssc_" + "0" * 300)
    in_the_address = httpx.post(
        f"{served.base}{path(code)}?token={served.coordinator}", json=body(team[0])
    )
    # a token of the right shape that opens nothing: 403, as everywhere in the API
    made_up = served.post(code, body(team[0]), token="ssc_" + "0" * 40)
    own_team = served.post(code, body(team[1]), token=inspector)
    foreign = served.post(code, body(team[0]), token=other_bureau)
    listing = httpx.get(f"{served.base}/rounds/{ROUND}/replacements", headers=bearer(inspector))
    wrong = (nobody, malformed, in_the_address)
    assert [r.status_code for r in wrong] == [401] * 3, [r.text for r in wrong]
    assert made_up.status_code == 403 and made_up.json()["type"].endswith("token-refused")
    assert own_team.status_code == 403 and own_team.json()["type"].endswith("role-refused")
    assert foreign.status_code == 403 and listing.status_code == 403
    for r in (*wrong, made_up, own_team, foreign, listing):
        assert r.headers["content-type"] == "application/problem+json"
    assert _stored(served.engine) == []


def test_bodies_are_bounded_and_extra_fields_refused(served: Served) -> None:
    code, team = sorted(served.teams.items())[0]
    huge = served.post(code, body(team[0], note="长" * (2 << 20)))
    long = served.post(code, body(team[0], note="长" * 501))
    extra = served.post(code, body(team[0]) | {"replacement": team[0]})
    bad_cause = served.post(code, body(team[0], cause="sick"))
    blank = served.post(code, body(team[0], note="   "))
    missing = served.post(code, {"inspector_id": team[0]})
    long_id = served.post(code, body("F" * 65))
    bad_code = served.post("not-a-credit-code", body(team[0]))
    assert huge.status_code == 413, huge.text
    assert long.status_code == 422 and _fields(long) == ["body.note"]
    assert extra.status_code == 422 and _fields(extra) == ["body.replacement"]
    assert bad_cause.status_code == 422 and _fields(bad_cause) == ["body.cause"]
    assert blank.status_code == 422 and _fields(blank) == ["body.note"]  # the service's check
    assert "note: say why" in blank.json()["detail"]
    assert missing.status_code == 422 and _fields(missing) == ["body.cause", "body.note"]
    assert long_id.status_code == 422 and _fields(long_id) == ["body.inspector_id"]
    assert bad_code.status_code == 422 and _fields(bad_code) == ["path.credit_code"]
    assert _stored(served.engine) == []


def _fields(r: httpx.Response) -> list[str]:
    assert r.headers["content-type"] == "application/problem+json", r.text
    return sorted(e["field"] for e in r.json()["errors"])


def test_state_refusals_are_409_naming_what_refused_and_write_nothing(
    served: Served,
) -> None:
    (done, done_team), (code, team), *_ = sorted(served.teams.items())
    final_finding(served.engine, done, done_team)
    final = served.post(done, body(done_team[0]))
    stranger = served.post(code, body("FJ9999"))
    no_team = served.post("91350100MA2Y000000", body(team[0]))
    no_round = httpx.post(
        f"{served.base}{path(code, 'no-such-round')}",
        json=body(team[0]),
        headers=bearer(served.coordinator),
    )
    assert final.status_code == 409 and _fields(final) == ["path.credit_code"]
    assert "is final" in final.json()["detail"]
    assert final.json()["type"] == "urn:shuangsui:problem:replacement-final"
    assert stranger.status_code == 409 and _fields(stranger) == ["body.inspector_id"]
    assert no_team.status_code == 404 and _fields(no_team) == ["path.credit_code"]
    assert no_round.status_code == 404 and _fields(no_round) == ["path.round_key"]
    missing = httpx.get(
        f"{served.base}/rounds/no-such-round/replacements", headers=bearer(served.coordinator)
    )
    assert missing.status_code == 404
    with Session(served.engine) as s:
        rnd = s.get(Round, ROUND)
        assert rnd is not None
        rnd.status = RoundStatus.closed
        s.add(rnd)
        s.commit()
    closed = served.post(code, body(team[0]))
    assert closed.status_code == 409 and _fields(closed) == ["path.round_key"]
    assert "only a drawn round's teams change" in closed.json()["detail"]
    assert _stored(served.engine) == []


def test_no_inspector_left_is_409_and_the_member_stays(served: Served) -> None:
    code = sorted(served.teams)[0]
    for _ in range(30):  # the frame has 12 inspectors: never this many replacements
        seat = teams(served.engine)[code][1]
        try:
            service.replace_member(
                served.engine, ROUND, code, seat, cause="left", note="调离", recorded_by=ME
            )
        except UserError:
            break
    before = _stored(served.engine)
    r = served.post(code, body(seat, "left", "调离"))
    assert r.status_code == 409 and _fields(r) == ["body.inspector_id"]
    assert "no inspector left" in r.json()["detail"]
    assert _stored(served.engine) == before and teams(served.engine)[code][1] == seat


def test_two_enterprises_at_once_are_numbered_1_and_2(served: Served) -> None:
    (a, ta), (b, tb), *_ = sorted(served.teams.items())
    calls = [
        Call("POST", path(a), served.coordinator, json=body(ta[0])),
        Call("POST", path(b), served.coordinator, json=body(tb[1], "unavailable", "病假")),
    ]
    answers = race(served.base, calls)
    assert [r.status_code for r in answers] == [201, 201], [r.text for r in answers]
    assert sorted(r.json()["n"] for r in answers) == [1, 2]
    assert sorted(_stored(served.engine)) == sorted(
        [(answers[0].json()["n"], a, ta[0]), (answers[1].json()["n"], b, tb[1])]
    )
    assert [c["n"] for c in served.listed()] == [1, 2]
    now = teams(served.engine)
    assert now[a] == answers[0].json()["team"] and now[b] == answers[1].json()["team"]


def test_the_same_withdrawal_sent_twice_at_once_is_recorded_once(served: Served) -> None:
    code, team = sorted(served.teams.items())[0]
    call = Call("POST", path(code), served.coordinator, json=body(team[1]))
    answers = race(served.base, [call, call])
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [201, 409], [r.text for r in answers]
    refused = next(r for r in answers if r.status_code == 409)
    assert _fields(refused) == ["body.inspector_id"]
    assert f"{team[1]} is not on the team of {code}" in refused.json()["detail"]
    assert refused.json()["type"] == "urn:shuangsui:problem:replacement-not-on-team"
    assert _stored(served.engine) == [(1, code, team[1])]


@pytest.mark.postgres
def test_a_withdrawal_sent_while_the_same_one_is_being_written_waits_for_it(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving forced: the first request has read the team and is held before it
    writes; the second must wait for it (the round's row lock), then read the team the first
    left, and be refused as not on it. Before the lock, the second read the same team, and
    one of the two deleted a seat the other had already moved (a 500). PostgreSQL: SQLite's
    writers take the database's write lock before they read."""
    if served.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks; SQLite serialises writers")
    code, team = sorted(served.teams.items())[0]
    read, go = threading.Event(), threading.Event()
    real = service.refuse_final

    def held(*args: Any) -> None:  # called once the team is read, before anything is written
        real(*args)
        if not read.is_set():
            read.set()
            assert go.wait(60), "the test never let the first write go on"

    monkeypatch.setattr(service, "refuse_final", held)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(served.post, code, body(team[1]))
        try:
            assert read.wait(30), "the first request never read the team"
            second = pool.submit(served.post, code, body(team[1]))
            assert_blocked(served.engine, second, "the second request did not wait for the first")
        finally:
            go.set()
        answers = [first.result(60), second.result(60)]
    assert [r.status_code for r in answers] == [201, 409], [r.text for r in answers]
    assert _fields(answers[1]) == ["body.inspector_id"]
    assert _stored(served.engine) == [(1, code, team[1])]


def test_a_replacement_whose_token_is_revoked_meanwhile_is_refused(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token checked at the door, then revoked before the write: refused as a revoked
    token is (the check runs again in the write's own transaction), nothing written."""
    code, team = sorted(served.teams.items())[0]
    r = held_while(
        monkeypatch,
        (api_replacements, "replace_member"),  # the body read, the write not begun
        lambda: served.post(code, body(team[0])),
        meanwhile=lambda: tokens.revoke(served.engine, ME),
    )
    assert r.status_code == 403 and r.json()["type"].endswith("token-refused"), r.text
    assert _stored(served.engine) == [] and teams(served.engine)[code] == team


def test_a_new_due_date_in_the_body(served: Served) -> None:
    """A seat whose date is gone is refused without ``due_on`` (422 naming the field); a date
    given is checked (from today to a year on), recorded, answered and listed; a replacement
    without one lists none."""
    import datetime as dt

    from rounds.replacements import bureau_today

    (code, team), (other, other_team), *_ = sorted(served.teams.items())
    today = bureau_today()
    gone = today - dt.timedelta(days=1)
    with Session(served.engine) as s:
        s.execute(sa.update(Assignment).where(Assignment.credit_code == code).values(due_on=gone))
        s.commit()
    missing = served.post(code, body(team[1]))
    past = served.post(code, body(team[1]) | {"due_on": gone.isoformat()})
    a_year_and_more = (today + dt.timedelta(days=400)).isoformat()
    far = served.post(code, body(team[1]) | {"due_on": a_year_and_more})
    unreadable = served.post(code, body(team[1]) | {"due_on": "下周五"})
    assert missing.status_code == 422 and _fields(missing) == ["body.due_on"]
    assert f"the seat's due date, {gone}, is gone" in missing.json()["detail"]
    assert missing.json()["type"] == "urn:shuangsui:problem:replacement-due-gone"
    assert past.status_code == 422 and _fields(past) == ["body.due_on"]
    assert far.status_code == 422 and _fields(far) == ["body.due_on"]
    assert unreadable.status_code == 422 and _fields(unreadable) == ["body.due_on"]
    assert _stored(served.engine) == []
    new_date = today + dt.timedelta(days=14)
    r = served.post(code, body(team[1]) | {"due_on": new_date.isoformat()})
    assert r.status_code == 201, r.text
    assert r.json()["due_on"] == new_date.isoformat()
    plain = served.post(other, body(other_team[0]))
    assert plain.status_code == 201 and plain.json()["due_on"] is None
    assert [c["due_on"] for c in served.listed()] == [new_date.isoformat(), None]
