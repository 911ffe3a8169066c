"""The deadline list reads what it needs only (``findings.due_records``): before, it read every
version whole through the public site's loader (``findings.records.load_results``), 78 % of a
``GET /deadlines`` page's time. Its answers must be the very ones of that path, kept here as
the reference (``_items_as_before``: ``findings.overdue`` as it was), on two rounds holding
every case: no finding, an unsigned version, a version signed by one not on the team, final
results published and not, made final late (months after the due date), after midnight in
Beijing (Wednesday in UTC) or at night (Wednesday in Beijing, Thursday if read as UTC),
corrections published, waiting and unsigned."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from findings import due_records, overdue, service
from findings.deadlines import add_working_days
from findings.models import Finding, FindingSignoff, FindingVersion, PublishedResult
from findings.records import ResultRecord, load_results
from findings.state import is_final
from rounds.models import Assignment
from tests.api.test_list_pages import Desk
from tests.findings.factories import ROUND, finding

OTHER = "r-other"
_F = Finding.__table__  # type: ignore[attr-defined]
_FV = FindingVersion.__table__  # type: ignore[attr-defined]
_S = FindingSignoff.__table__  # type: ignore[attr-defined]
_P = PublishedResult.__table__  # type: ignore[attr-defined]
_A = Assignment.__table__  # type: ignore[attr-defined]


def _version(engine: sa.Engine, key: str, code: str, team: list[str], *, signers: int,
             signed_at: dt.datetime | None = None, reason: str = "") -> int:  # fmt: skip
    """A version of ``code``'s finding submitted by the lead and signed by the first
    ``signers`` of its team, each signature at ``signed_at`` when given."""
    v = service.submit(engine, round_key=key, credit_code=code, submitted_by=f"inspector:{team[0]}",
                       data=finding(reason=reason or "", description=f"{code} {reason}"),
                       signers=[team[0]])  # fmt: skip
    for member in team[1:signers]:
        service.sign_off(engine, round_key=key, credit_code=code, version=v.version,
                         inspector_id=member)  # fmt: skip
    if signed_at is not None:
        with engine.begin() as conn:
            conn.execute(sa.update(_S).where(_S.c.version_id == v.id).values(signed_at=signed_at))
    return v.version


def _publish(engine: sa.Engine, key: str, code: str, version: int) -> None:
    with engine.begin() as conn:
        vid, fid = conn.execute(
            sa.select(_FV.c.id, _FV.c.finding_id)
            .join(_F, _F.c.id == _FV.c.finding_id)
            .where(_F.c.round_key == key, _F.c.credit_code == code, _FV.c.version == version)
        ).one()
        conn.execute(sa.insert(_P).values(version_id=vid, finding_id=fid,
                                          published_at=dt.datetime.now(dt.UTC)))  # fmt: skip


@pytest.fixture
def bureau(engine: sa.Engine) -> sa.Engine:
    desk = Desk(engine)
    desk.rounds_like_this_one([OTHER], dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC))
    codes = sorted(desk.teams)
    late = dt.datetime(2027, 5, 20, 3, 0, tzinfo=dt.UTC)  # months after the due date
    evening = dt.datetime(2026, 12, 9, 17, 30, tzinfo=dt.UTC)  # Thursday 01:30 in Beijing
    night = dt.datetime(2026, 12, 9, 13, 0, tzinfo=dt.UTC)  # Wednesday 21:00 in Beijing
    for key in (ROUND, OTHER):
        team = lambda code: desk.teams[code]  # noqa: E731
        # codes[0]: no finding at all
        _version(engine, key, codes[1], team(codes[1]), signers=1)  # unsigned
        _version(engine, key, codes[2], team(codes[2]), signers=9, signed_at=evening)  # waiting
        _version(engine, key, codes[3], team(codes[3]), signers=9, signed_at=late)
        _version(engine, key, codes[4], team(codes[4]), signers=9, signed_at=evening)
        _publish(engine, key, codes[4], 1)  # published: nothing due
        for code, then in ((codes[5], 9), (codes[6], 1), (codes[7], 9)):
            _version(engine, key, code, team(code), signers=9)
            _publish(engine, key, code, 1)
            _version(engine, key, code, team(code), signers=then, reason="更正",
                     signed_at=night if code == codes[5] else None)  # fmt: skip
        _publish(engine, key, codes[7], 2)  # a correction published
        # two finals, neither published: the later is due for publication
        _version(engine, key, codes[8], team(codes[8]), signers=9, signed_at=late)
        _version(engine, key, codes[8], team(codes[8]), signers=9, reason="更正")
        # signed by one not on the team (a member since replaced): not final
        vid = _version(engine, key, codes[9], team(codes[9]), signers=1)
        with engine.begin() as conn:
            fv = conn.execute(
                sa.select(_FV.c.id)
                .join(_F, _F.c.id == _FV.c.finding_id)
                .where(
                    _F.c.round_key == key, _F.c.credit_code == codes[9], _FV.c.version == vid
                )  # fmt: skip
            ).scalar_one()
            conn.execute(sa.insert(_S).values(version_id=fv, inspector_id="someone-else",
                                              via="api", signed_at=evening))  # fmt: skip
    return engine


def _items_as_before(
    engine: sa.Engine, rules: overdue.Rules, round_keys: Sequence[str] | None
) -> list[overdue.DueItem]:
    """``findings.overdue._report`` and ``due_items`` as they were before their own loader."""
    dues = sa.select(_A.c.round_key, _A.c.credit_code, _A.c.due_on).distinct()
    if round_keys is not None:
        dues = dues.where(_A.c.round_key.in_(list(round_keys)))
    with engine.connect() as conn:
        records: list[ResultRecord] = load_results(conn, round_keys)
        due = {(rk, code): d for rk, code, d in conn.execute(dues)}
    tz, out = ZoneInfo(rules.timezone), []
    for rec in records:
        pub = rec.public
        if pub is None:
            day = due.get((rec.round_key, rec.credit_code))
            if day is not None:
                out.append((rec, "finding", None, day, ()))
            continue
        if pub.published_at is not None:
            continue
        was_published = any(v.published_at for v in rec.versions if v.version < pub.version)
        days = rules.correction_days if was_published else rules.publish_days
        assert pub.state.final_at is not None
        deadline = add_working_days(pub.state.final_at.astimezone(tz).date(), days, rules.calendar)
        what = "correction" if was_published else "publish"
        out.append((rec, what, pub.version, deadline.day, deadline.warnings))
    items = [
        overdue._item(
            rec,
            what,
            version,
            day,
            warnings,
            rules.today,
            rules.soon_days,  # type: ignore[arg-type]
            rules.calendar,
        )  # fmt: skip
        for rec, what, version, day, warnings in out
    ]
    order = {"late": 0, "due-soon": 1, "ok": 2}
    return sorted(items, key=lambda i: (order[i.status], i.due, i.round_key, i.credit_code))


def test_the_list_is_the_one_the_whole_versions_gave(bureau: sa.Engine) -> None:
    statuses = set()
    for today in (dt.date(2026, 12, 5), dt.date(2027, 1, 4), dt.date(2027, 6, 30)):
        rules = overdue.Rules.from_settings(today)
        for keys in (None, [ROUND], [OTHER], [ROUND, OTHER]):
            before = _items_as_before(bureau, rules, keys)
            assert overdue.report(bureau, today=today, round_keys=keys) == before
            assert {i.what for i in before} == {"finding", "publish", "correction"}
            statuses |= {i.status for i in before}
    assert statuses == {"late", "due-soon", "ok"}


def test_each_result_reads_as_the_public_sites_loader_reads_it(bureau: sa.Engine) -> None:
    """Each enterprise, its versions, which is final and when, which was published."""

    def whole(rec: ResultRecord) -> tuple[object, ...]:
        versions = [(v.version, v.state.final, v.state.final_at, v.published_at is not None)
                    for v in rec.versions]  # fmt: skip
        public = None if rec.public is None else rec.public.version
        return rec.round_key, rec.credit_code, sorted(rec.team), versions, public

    def needed(rec: due_records.ResultDue) -> tuple[object, ...]:
        finals = [is_final(rec.team, v.signed) for v in rec.versions]
        versions = [(v.version, final, rec.final_at(v) if final else None, v.published)
                    for v, final in zip(rec.versions, finals, strict=True)]  # fmt: skip
        public = None if rec.public is None else rec.public.version
        return rec.round_key, rec.credit_code, sorted(rec.team), versions, public

    with bureau.connect() as conn:
        for keys in (None, [OTHER]):
            expected = [whole(r) for r in load_results(conn, keys)]
            assert [needed(r) for r in due_records.load(conn, keys)] == expected
            assert any(len(r[3]) == 2 for r in expected)  # corrections among them
