"""Which versions the site reads as final (website.results.final, the database's test of
``findings.state.is_final``): the same versions as the rule gives over every assignment and
sign-off, with signatures of inspectors off the team, a team short of a signature and a firm
whose team is gone; and a correction history's final days from its team's signatures only."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from findings import service
from findings.state import is_final
from tests.findings.factories import ROUND, drawn_round, final_finding, finding
from website.results import read_versions

ZONE = "Asia/Shanghai"
LATE = dt.datetime(2027, 3, 1, 4, 0)  # UTC: 2027-03-01 in Beijing, after every team signed


def _sign(conn: sa.Connection, version_id: int, inspector: str, at: dt.datetime) -> None:
    conn.execute(
        sa.text("INSERT INTO finding_signoff (version_id, inspector_id, via, signed_at) "
                "VALUES (:v, :i, 'api', :at)"),
        {"v": version_id, "i": inspector, "at": at},
    )  # fmt: skip


def _version_id(conn: sa.Connection, code: str, number: int) -> int:
    return int(conn.execute(sa.text(
        "SELECT v.id FROM finding_version v JOIN finding f ON f.id = v.finding_id "
        "WHERE f.round_key = :r AND f.credit_code = :c AND v.version = :n"),
        {"r": ROUND, "c": code, "n": number}).scalar_one())  # fmt: skip


def _finals_by_the_rule(conn: sa.Connection) -> dict[str, list[int]]:
    """Each firm's final version numbers, by ``findings.state.is_final`` over every row."""
    teams: dict[str, list[str]] = {}
    for code, inspector in conn.execute(sa.text(
        "SELECT credit_code, inspector_id FROM assignment WHERE round_key = :r"), {"r": ROUND}
    ):  # fmt: skip
        teams.setdefault(code, []).append(inspector)
    signed: dict[int, set[str]] = {}
    for vid, inspector in conn.execute(
        sa.text("SELECT version_id, inspector_id FROM finding_signoff")
    ):
        signed.setdefault(vid, set()).add(inspector)
    finals: dict[str, list[int]] = {}
    for code, vid, number in conn.execute(sa.text(
        "SELECT f.credit_code, v.id, v.version FROM finding_version v "
        "JOIN finding f ON f.id = v.finding_id WHERE f.round_key = :r ORDER BY v.version"),
        {"r": ROUND},
    ):  # fmt: skip
        if code in teams and is_final(teams[code], signed.get(vid, set())):
            finals.setdefault(code, []).append(number)
    return finals


def test_the_final_versions_are_the_rules(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    whole, short, outsider, also, gone, corrected = sorted(teams)[:6]
    final_finding(engine, whole, teams[whole])
    for code in (short, outsider):  # the lead's signature only
        service.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                       submitted_by=f"inspector:{teams[code][0]}",
                       signers=[teams[code][0]])  # fmt: skip
    final_finding(engine, also, teams[also])
    final_finding(engine, gone, teams[gone])
    final_finding(engine, corrected, teams[corrected])
    service.submit(engine, round_key=ROUND, credit_code=corrected, base_version=1,
                   data=finding("other", reason="复核"),
                   submitted_by=f"inspector:{teams[corrected][0]}",
                   signers=[teams[corrected][0]])  # fmt: skip  # v2, not final
    final_finding(engine, corrected, teams[corrected], result="not_disclosed", reason="再核")
    stranger = "X-not-on-any-team"
    with engine.begin() as conn:
        # a signature by someone off the team does not stand for a member's
        _sign(conn, _version_id(conn, outsider, 1), stranger, LATE)
        _sign(conn, _version_id(conn, also, 1), stranger, LATE)
        # nor does it make a history's final day: v3's team signed before LATE
        _sign(conn, _version_id(conn, corrected, 3), stranger, LATE)
        # a firm whose team is gone has no final version, signed or not
        conn.execute(sa.text("DELETE FROM assignment WHERE round_key = :r AND credit_code = :c"),
                     {"r": ROUND, "c": gone})  # fmt: skip
        expected = _finals_by_the_rule(conn)

    with engine.connect() as conn:
        shown = read_versions(conn, [ROUND], ZONE)

    assert expected == {whole: [1], also: [1], corrected: [1, 3]}
    assert {code: [v.version for v in s.history] for (_, code), s in shown.items()} == expected
    assert shown[(ROUND, corrected)].public.version == 3
    days = [v.final_on for v in shown[(ROUND, corrected)].history]
    assert all(days) and "2027-03-01" not in days
