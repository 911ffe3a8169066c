"""Migrations go up and down on both databases, and the head matches the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import Session, SQLModel, col, select

from shuangsui import db


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_migrations_down_and_up_again(db_url: str) -> None:
    expected = {t.name for t in SQLModel.metadata.sorted_tables}
    assert _tables(db_url) == expected
    db.downgrade(db_url, "base")
    assert _tables(db_url) == set()
    db.migrate(db_url)
    assert _tables(db_url) == expected


def test_head_schema_matches_the_models(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    engine.dispose()
    assert diff == [], f"models and migrations differ: write a migration for {diff}"


def test_0019_a_replacements_date_goes_down_with_its_column_and_comes_back(db_url: str) -> None:
    """Down to 0018 the column goes and the replacements stay; up again each date is read back
    from its ``MemberReplaced`` event, so ``round verify`` still finds row and event agree."""
    import datetime as dt

    from rounds import bundle
    from rounds.models import TeamChange
    from rounds.replacements import bureau_today, replace_member
    from tests.findings.factories import ROUND, drawn_round

    engine = db.make_engine(db_url)
    try:
        drawn = drawn_round(engine)
        first, second = sorted(drawn)[:2]
        new_date = bureau_today() + dt.timedelta(days=9)
        replace_member(engine, ROUND, first, drawn[first][0], cause="conflict", note="回避",
                       recorded_by="李", due_on=new_date)  # fmt: skip
        replace_member(engine, ROUND, second, drawn[second][0], cause="conflict", note="回避",
                       recorded_by="李")  # fmt: skip
        engine.dispose()
        db.downgrade(db_url, "0018")
        columns = {c["name"] for c in sa.inspect(engine).get_columns("team_change")}
        with engine.connect() as conn:
            kept = conn.execute(sa.text("SELECT n FROM team_change ORDER BY n")).scalars().all()
        engine.dispose()
        assert "due_on" not in columns and kept == [1, 2]
        db.migrate(db_url)
        with Session(engine) as s:
            rows = s.exec(select(TeamChange).order_by(col(TeamChange.n))).all()
            assert [r.due_on for r in rows] == [new_date, None]
        bundle.recompute(engine, ROUND)
    finally:
        engine.dispose()


def test_0020_a_new_date_goes_down_with_its_table_and_comes_back(db_url: str) -> None:
    """Down to 0019 the ``due_change`` table goes (the assignments keep their dates); up again
    each row is read back from its ``DueDateMoved`` event, so ``round verify`` still finds the
    dates, the rows and the events agree."""
    import datetime as dt

    from rounds import bundle
    from rounds.models import DueChange
    from rounds.redates import move_due_date
    from tests.findings.factories import ROUND, drawn_round

    engine = db.make_engine(db_url)
    try:
        drawn = drawn_round(engine)
        first, second = sorted(drawn)[:2]
        move_due_date(engine, ROUND, first, due_on=dt.date(2027, 1, 29), reason="企业停业",
                      recorded_by="李")  # fmt: skip
        move_due_date(engine, ROUND, second, due_on=dt.date(2027, 2, 26), reason="等待检测",
                      recorded_by="王")  # fmt: skip
        with Session(engine) as s:
            before = [r.model_dump() for r in s.exec(select(DueChange).order_by(col(DueChange.n)))]
        engine.dispose()
        db.downgrade(db_url, "0019")
        assert "due_change" not in _tables(db_url)
        db.migrate(db_url)
        with Session(engine) as s:
            after = [r.model_dump() for r in s.exec(select(DueChange).order_by(col(DueChange.n)))]
        assert after == before and len(after) == 2
        bundle.recompute(engine, ROUND)
    finally:
        engine.dispose()


def test_0022_a_link_ended_stays_ended_after_the_schema_went_down_and_up_again(
    db_url: str,
) -> None:
    """Down to 0021 the generations' table goes (an older shuangsui knows none); up again each
    generation begun is read back from its ``LinkEnded`` audit event, so the link a coordinator
    ended is still refused over HTTP (403 token-replaced) and the link sent after it opens."""
    import httpx
    from typer.testing import CliRunner

    from api.app import create_app
    from notifications.generations import LinkGeneration
    from notifications.links import assignment_token, idempotency_keys
    from notifications.models import Notification, NotificationKind, NotificationStatus
    from shuangsui.cli import _register_groups, app
    from shuangsui.config import get_settings
    from tests.findings.factories import ROUND, drawn_round
    from tests.findings.live import serve

    engine = db.make_engine(db_url)
    try:
        code, team = sorted(drawn_round(engine).items())[0]
        member = team[0]
        notice = idempotency_keys(ROUND, NotificationKind.assignment.value)(member, code)
        with Session(engine) as s:  # the notice has gone: its link may be held by another
            n = Notification.__table__  # type: ignore[attr-defined]
            s.execute(sa.update(n).where(n.c.idempotency_key == notice)
                      .values(status=NotificationStatus.sent.value))  # fmt: skip
            s.commit()
        _register_groups()
        ended = CliRunner().invoke(app, [
            "notifications", "relink", "--round", ROUND, "--by", "李协调", "--reason", "手机遗失",
            "--inspector", member, "--credit-code", code, "--end-old",
        ])  # fmt: skip
        assert ended.exit_code == 0, (ended.output, ended.exception)

        def held() -> list[tuple[object, ...]]:
            with Session(engine) as s:
                rows = s.exec(select(LinkGeneration)).all()
                return [(r.round_key, r.credit_code, r.inspector_id, r.generation, r.ended_by,
                         r.reason, r.ended_at.replace(microsecond=0)) for r in rows]  # fmt: skip

        before = held()
        assert [r[:6] for r in before] == [(ROUND, code, member, 1, "李协调", "手机遗失")]
        engine.dispose()
        db.downgrade(db_url, "0021")
        assert "link_generation" not in _tables(db_url)
        db.migrate(db_url)
        after = held()
        assert [r[:6] for r in after] == [r[:6] for r in before]
        assert abs((after[0][6] - before[0][6]).total_seconds()) <= 1  # type: ignore[operator]

        secret = get_settings().secret_key.get_secret_value()
        old, new = (assignment_token(secret, ROUND, code, member, n) for n in (0, 1))
        with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
            refused = http.get(f"/findings/{ROUND}/{code}",
                               headers={"Authorization": f"Bearer {old}"})  # fmt: skip
            assert refused.status_code == 403, refused.text
            assert "this link was replaced" in refused.json()["detail"]
            opened = http.get(f"/findings/{ROUND}/{code}",
                              headers={"Authorization": f"Bearer {new}"})  # fmt: skip
            assert opened.status_code in (200, 404), opened.text  # no finding yet: 404
    finally:
        engine.dispose()
