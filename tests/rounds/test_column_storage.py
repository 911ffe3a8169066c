"""How PostgreSQL stores a round's artifacts and its notices (migration 0023): the gzip'd
artifacts out of line as they are, never compressed again; a long notice's body by lz4. The
values read back unchanged, and the schema goes down to 0022 and up again on both databases."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, select

from notifications.models import Channel, Notification, NotificationKind
from rounds import service as rounds
from rounds.models import RoundArtifact
from shuangsui import db
from tests.rounds.factories import plan_yaml, seed_registry

BODY = "经“双随机、一公开”抽取，您被确定为以下检查任务的组长。\n" * 80  # over the 2 KB threshold


def _storage(engine: sa.Engine) -> dict[str, tuple[str, str]]:
    """(storage, compression) of the three columns, as pg_attribute has them."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT attname, attstorage, attcompression FROM pg_attribute"
                " WHERE (attrelid = 'round_artifact'::regclass AND attname = 'content')"
                " OR (attrelid = 'notification'::regclass AND attname IN ('body', 'payload'))"
            )
        )
        return {name: (storage, compression) for name, storage, compression in rows}


def _has_lz4(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        offered = conn.execute(
            sa.text("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        ).scalar()
    return "lz4" in (offered or [])


def _notice(engine: sa.Engine) -> None:
    now = datetime.now(UTC)
    with Session(engine) as s:
        s.add(Notification(idempotency_key="k" * 64, round_key="r",
                           kind=NotificationKind.assignment, recipient="FJ001",
                           channel=Channel.email, address="a@example.org", subject="检查任务通知",
                           body=BODY, payload={"note": BODY}, next_attempt_at=now,
                           created_at=now))  # fmt: skip
        s.commit()


def _body_compression(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT pg_column_compression(body) FROM notification")
        ).scalar()


def test_artifacts_and_notices_stored_by_0023_read_back_unchanged(
    db_url: str, engine: sa.Engine
) -> None:
    seed_registry(engine)
    rounds.commit_round(engine=engine, plan_text=plan_yaml())
    with Session(engine) as s:
        stored = {a.name: (a.sha256, a.content) for a in s.exec(select(RoundArtifact))}
    assert "frame-enterprises.jsonl" in stored
    _notice(engine)
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        lz4 = _has_lz4(engine)
        assert _storage(engine) == {
            "content": ("e", ""),  # EXTERNAL: out of line, never compressed
            "body": ("x", "l" if lz4 else ""),
            "payload": ("x", "l" if lz4 else ""),
        }
        assert _body_compression(engine) == ("lz4" if lz4 else "pglz")
    engine.dispose()

    db.downgrade(db_url, "0022")
    if postgres:
        assert _storage(engine) == {"content": ("x", ""), "body": ("x", ""), "payload": ("x", "")}
    engine.dispose()
    db.migrate(db_url)
    with Session(engine) as s:
        assert {a.name: (a.sha256, a.content) for a in s.exec(select(RoundArtifact))} == stored
        notice = s.exec(select(Notification)).one()
        assert (notice.body, notice.payload) == (BODY, {"note": BODY})
    if postgres:
        assert _storage(engine)["content"] == ("e", "")
