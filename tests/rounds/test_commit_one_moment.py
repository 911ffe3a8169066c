"""A round's commit reads the registry as it stood at one moment. Its frames and the
registry's freshness (the last import's time) were read by statements of their own, each
seeing what was committed when it ran, so a registry import committed while a commit read the
frames was half seen: the freshness, read after, counted the import, and the round was
committed as drawn from a fresh registry with a frame the import's firms were not in (the
month's round drawn without the late import, and no hold to say so). Now the frames and the
preflight read in one transaction's snapshot (``shuangsui.db.one_moment``): the round is held
for the registry as the frames saw it, and the next commit reads the import whole."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, update

from registry.models import RegistryImport
from rounds import service
from shuangsui.errors import CommitHeld
from tests.rounds.factories import plan_yaml, seed_registry
from tests.rounds.test_preflight import _grow_registry


def _imported_meanwhile(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make an import (60 more firms and its record) commit, on a connection of its own, as
    soon as the commit's frames are read; the sizes of the frames read before it."""
    read, real = [], service.build_frames

    def frames_then_an_import(conn: sa.Connection, plan: Any, *, source: str = "") -> Any:
        built = real(conn, plan, source=source)
        read.append(len(built.enterprises))
        _grow_registry(engine)
        with Session(engine) as s:
            s.add(RegistryImport(batch_id=uuid.uuid4().hex, at=dt.datetime.now(dt.UTC)))
            s.commit()
        monkeypatch.setattr(service, "build_frames", real)  # one import
        return built

    monkeypatch.setattr(service, "build_frames", frames_then_an_import)
    return read


def test_an_import_committed_while_the_frames_are_read_is_not_half_seen(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_registry(engine, enterprises=40)
    stale = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    with Session(engine) as s:
        s.exec(update(RegistryImport).values(at=stale))  # type: ignore[call-overload]
        s.commit()
    read = _imported_meanwhile(engine, monkeypatch)
    with pytest.raises(CommitHeld) as held:
        service.commit_round(engine=engine, plan_text=plan_yaml())
    assert read == [40]  # the frames were read before the import
    assert "more than 35 days ago" in str(held.value)  # and so was the freshness
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    assert rnd.frame_size == 100  # the next commit reads the import whole


def test_a_fresh_registry_commits_as_before(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_registry(engine, enterprises=40)
    read = _imported_meanwhile(engine, monkeypatch)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    assert read == [40] and rnd.frame_size == 40  # the round is the registry as it was read
