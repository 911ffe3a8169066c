"""Pulling a partner in process: verified, applied once, and nothing applied on any fault."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from exchange import sync
from exchange.directory import load_directory
from exchange.errors import SyncRejected
from exchange.keys import load_or_create
from exchange.models import ExchangeEntry, PartnerConflict, PartnerEntry, PartnerState
from exchange.sync import sync_partner
from tests.exchange.bureaus import Faulty, make_bureau, publish, rewrite_entry, transport_of
from tests.exchange.bureaus import write_directory as write_dir

CODES = [f"91350100MA{i:07d}X" for i in range(12)]


@pytest.fixture
def pair(engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Fujian (the configured bureau, on ``engine``) and Shanghai (in process, SQLite)."""
    monkeypatch.setenv("SHUANGSUI_EXCHANGE_PAGE_SIZE", "2")
    sh = make_bureau(tmp_path, "310000")
    sh.base_url = "http://sh.test"
    fj_key = load_or_create()
    fj = make_bureau(tmp_path / "unused", "350000")
    fj.key, fj.base_url = fj_key, "http://fj.test"
    write_dir(Path(tmp_path / "home" / "partners.toml"), [sh])
    write_dir(sh.home / "partners.toml", [fj])
    return sh, Faulty(transport_of(sh), sh.origin)


def _held(engine: sa.Engine) -> tuple[int, int, str]:
    with Session(engine) as s:
        n = s.exec(select(func.count()).select_from(PartnerEntry)).one()
        st = s.get(PartnerState, "310000")
        assert st is not None
        return n, st.size, st.status


def test_sync_applies_once_and_resumes_after_each_fault(engine: sa.Engine, pair) -> None:  # type: ignore[no-untyped-def]
    sh, transport = pair
    partner = load_directory()["310000"]
    for i in range(5):
        publish(sh, CODES[i], n=i)
    out = sync_partner(engine, partner, transport=transport)
    assert (out.status, out.before, out.after, out.applied) == ("ok", 0, 5, 5)
    assert sync_partner(engine, partner, transport=transport).applied == 0  # idempotent
    for i in range(5, 10):
        publish(sh, CODES[i], n=i)
    for mode in ("down", "down-mid-sync", "forged", "truncated", "gap", "cut", "tampered"):
        transport.mode, transport.pages = mode, 0
        out = sync_partner(engine, partner, transport=transport)
        assert out.status == "failed", mode
        assert _held(engine) == (5, 5, "failed"), mode
        with Session(engine) as s:
            st = s.get(PartnerState, "310000")
            assert st is not None and st.last_error, mode
    transport.mode = ""
    out = sync_partner(engine, partner, transport=transport)
    assert (out.status, out.before, out.after) == ("ok", 5, 10)
    assert _held(engine) == (10, 10, "ok")


def test_rewritten_history_is_flagged_with_the_evidence(engine: sa.Engine, pair) -> None:  # type: ignore[no-untyped-def]
    sh, transport = pair
    partner = load_directory()["310000"]
    for i in range(6):
        publish(sh, CODES[i], n=i)
    assert sync_partner(engine, partner, transport=transport).status == "ok"
    rewrite_entry(sh, 2)
    publish(sh, CODES[6], n=6)
    out = sync_partner(engine, partner, transport=transport)
    assert out.status == "rewritten" and "REWROTE ITS HISTORY" in (out.error or "")
    assert _held(engine) == (6, 6, "rewritten")
    with Session(engine) as s:
        (conflict,) = s.exec(select(PartnerConflict)).all()
        st = s.get(PartnerState, "310000")
        assert st is not None and st.flagged
    assert conflict.trusted_checkpoint.split("\n")[1] == "6"
    assert conflict.conflicting_checkpoint.split("\n")[1] == "7"
    assert conflict.proof  # the proof that failed, kept


def test_a_range_is_applied_a_chunk_at_a_time_and_whole_or_not_at_all(  # type: ignore[no-untyped-def]
    engine: sa.Engine, pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The range waits on disk and is applied ``APPLY_CHUNK`` entries at a time in one
    transaction: an entry the partner signed that is no canonical JSON, met in a later chunk,
    undoes the chunks written before it."""
    sh, transport = pair
    partner = load_directory()["310000"]
    monkeypatch.setattr(sync, "APPLY_CHUNK", 2)
    for i in range(5):
        publish(sh, CODES[i], n=i)
    out = sync_partner(engine, partner, transport=transport)
    assert (out.status, out.before, out.after, out.applied) == ("ok", 0, 5, 5)  # 3 chunks
    with Session(sh.engine) as s:
        theirs = [(e.seq, e.body, e.leaf_hash) for e in s.exec(
            select(ExchangeEntry).order_by(col(ExchangeEntry.seq))).all()]  # fmt: skip
    with Session(engine) as s:
        ours = [(e.seq, e.body, e.leaf_hash) for e in s.exec(
            select(PartnerEntry).order_by(col(PartnerEntry.seq))).all()]  # fmt: skip
    assert ours == theirs
    for i in range(5, 10):
        publish(sh, CODES[i], n=i)
    rewrite_entry(sh, 8, original='{"v": 1}')  # in the signed tree, but not canonical JSON
    for _ in range(2):  # chunk [5, 6] is written, [7, 8] fails: nothing stays, each time
        out = sync_partner(engine, partner, transport=transport)
        assert out.status == "refused" and "entry 8: not canonical JSON" in (out.error or "")
        assert _held(engine) == (5, 5, "refused")


def test_a_range_that_cannot_be_kept_on_disk_is_a_failed_sync_naming_where(
    tmp_path: Path,
) -> None:
    """The data directory cannot hold the spool (here: its path runs through a file): a
    ``SyncRejected`` naming the directory, recorded as the sync's reason, not an OSError."""
    (tmp_path / "home").write_text("a file, not a directory")
    where = tmp_path / "home" / "data"
    with pytest.raises(SyncRejected, match=f"could not be kept in {where}"):
        sync.Spool(0, where)
