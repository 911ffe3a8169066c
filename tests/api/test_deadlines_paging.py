"""``GET /deadlines`` a page at a time computes only the rounds that can hold the page's items
(``findings.overdue.page``): each page computed every round's due items, 0.16-0.28 s a page
and about 2 s a walk on a five-year database. Walked to its end, the list is still the one
unpaged computation (``findings.overdue.report``), in order, each item once, also when a
result became final long after its round's due date (its item falls among later rounds')."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from findings import due_records, overdue
from findings.models import Finding, FindingVersion, PublishedResult
from rounds.models import Assignment
from tests.api.test_list_pages import Desk
from tests.findings.factories import ROUND, final_finding

T0 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)
_A = Assignment.__table__  # type: ignore[attr-defined]


@pytest.fixture
def desk(engine: sa.Engine) -> Desk:
    """Four rounds, each due on its own day around today; in ``ROUND`` (due first) results
    made final today, unpublished (due 20 working days on, among the later rounds' days),
    and a correction of a published one (due 5 working days on)."""
    desk = Desk(engine)
    desk.rounds_like_this_one(["r-late", "r-soon", "r-later"], T0)
    today = dt.date.today()
    for key, days in ((ROUND, -20), ("r-late", -10), ("r-soon", 5), ("r-later", 60)):
        with engine.begin() as conn:
            due = today + dt.timedelta(days=days)
            conn.execute(sa.update(_A).where(_A.c.round_key == key).values(due_on=due))
    codes = sorted(desk.teams)
    for code in codes[:4]:
        final_finding(engine, code, desk.teams[code])
    _published(engine, codes[0])
    final_finding(engine, codes[0], desk.teams[codes[0]], result="other", reason="更正")
    return desk


def _published(engine: sa.Engine, code: str) -> None:
    with Session(engine) as session:
        version = session.exec(
            select(FindingVersion)
            .join(Finding)
            .where(Finding.round_key == ROUND, Finding.credit_code == code)
        ).one()
        assert version.id is not None
        session.add(PublishedResult(version_id=version.id, finding_id=version.finding_id,
                                    published_at=dt.datetime.now(dt.UTC)))  # fmt: skip
        session.commit()


def _shown(item: overdue.DueItem) -> dict[str, Any]:
    """An item as the route answers it (JSON: the due day in ISO, the warnings a list)."""
    return dataclasses.asdict(item) | {"due": item.due.isoformat(), "warnings": [*item.warnings]}


@pytest.mark.parametrize("everything", [True, False])
def test_a_walk_is_the_one_unpaged_list_each_item_once(desk: Desk, everything: bool) -> None:
    unpaged = sorted(overdue.report(desk.engine), key=lambda i: (i.due, i.round_key, i.credit_code))
    expected = [_shown(i) for i in unpaged if everything or i.status != "ok"]
    if everything:
        assert {i["what"] for i in expected} == {"finding", "publish", "correction"}
    assert len({i["round_key"] for i in expected}) >= 3 and len(expected) > 3 * 7

    params = {"all": "true"} if everything else {}
    pages = desk.walk("/deadlines", **params, limit=7)

    assert [item for page in pages for item in page] == expected
    assert len(pages) == -(-len(expected) // 7)


def test_a_page_computes_the_rounds_that_can_hold_it_not_every_round(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first page is the findings of ``ROUND`` (due first, more of them than a page): no
    other round is computed. The last page is ``r-later``'s: the rounds due before the page
    (``ROUND`` too, its results due in 20 working days) are not computed either."""
    read: list[list[str] | None] = []  # the rounds computed (None: every round), in turn
    load = due_records.load

    def recorded(conn: sa.Connection, round_keys: Any = None) -> list[due_records.ResultDue]:
        read.append(None if round_keys is None else list(round_keys))
        return load(conn, round_keys)

    monkeypatch.setattr(due_records, "load", recorded)
    by_page: list[list[list[str] | None]] = []

    def next_page(_: int) -> None:
        by_page.append(read.copy())
        read.clear()

    pages = desk.walk("/deadlines", next_page, all="true", limit=5)
    by_page.append(read.copy())

    assert {i["round_key"] for i in pages[0]} == {ROUND} and by_page[0] == [[ROUND]]
    assert {i["round_key"] for i in pages[-1]} == {"r-later"} and by_page[-1] == [["r-later"]]
    assert all(None not in rounds and len(rounds) < 4 for rounds in by_page)  # never all
