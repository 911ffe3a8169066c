"""A partner checkpoint whose ``time`` is ahead of our clock. The line was read and never
compared with anything but a round's commitment: a checkpoint dated a day ahead was stored,
cosigned (our witness line vouching for a checkpoint "signed" tomorrow), and, kept as the
partner's latest, taken by a round still gathering ``partner-checkpoints`` as signed after its
commitment, at every draw, without asking the partner again. The partner answered our signed
request, so its clock is not more than ``SHUANGSUI_EXCHANGE_SIGNATURE_MAX_AGE`` (300 s) ahead
of ours: now such a checkpoint is refused as the partner's (``failed``, naming it, the time,
our clock and the difference), nothing of it kept, the cursor unmoved; one within the bound
is taken. Our own log signed a checkpoint at a time its clock was ahead, and served it until
the tree grew (it was never "older than the interval"): now a new one is signed. Over real
HTTP on loopback (Shanghai behind the hostile proxy), SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from exchange.entries import iso
from exchange.entropy import _fresh
from exchange.log import latest_checkpoint
from exchange.models import ExchangeCheckpoint, PartnerState
from exchange.notes import format_checkpoint
from shuangsui.errors import EntropyUnavailable
from tests.exchange.bureaus import make_bureau, write_directory
from tests.exchange.test_hostile_checkpoints import Proxy, _kept, feed  # noqa: F401
from tests.exchange.test_hostile_pages import _refused


def _dated(ahead: dt.timedelta):  # type: ignore[no-untyped-def]
    """A rewrite of the checkpoint's lines: its time line ``ahead`` of now."""
    moment = dt.datetime.now(dt.UTC) + ahead
    return lambda lines: [line if not line.startswith("time ") else f"time {iso(moment)}"
                          for line in lines]  # fmt: skip


def test_a_checkpoint_dated_a_day_ahead_is_refused_nothing_kept(
    engine: sa.Engine,
    feed: Proxy,  # noqa: F811
) -> None:
    before = _kept(engine)
    feed.mode, feed.rewrite = "rewrite", _dated(dt.timedelta(days=1))
    error = _refused(engine, feed)  # failed, nothing applied; then resumes, 3 -> 6
    assert error.startswith("partner 310000: checkpoint rejected: its time "), error
    assert " is 86400 s after our clock (" in error or " is 86399 s after our clock (" in error
    assert error.endswith(
        "more than the 300 s two bureaus' clocks may differ "
        "(SHUANGSUI_EXCHANGE_SIGNATURE_MAX_AGE): a checkpoint is not signed ahead of its "
        "time; check the clocks of both bureaus"
    ), error
    assert _kept(engine)[1] == before[1] + 1  # cosigned: only the good one after


def test_a_checkpoint_within_the_clocks_bound_is_taken(
    engine: sa.Engine,
    feed: Proxy,  # noqa: F811
) -> None:
    from exchange.directory import load_directory
    from exchange.sync import sync_partner

    feed.mode, feed.rewrite = "rewrite", _dated(dt.timedelta(seconds=200))
    out = sync_partner(engine, load_directory()["310000"], timeout=10)
    assert (out.status, out.before, out.after, out.applied) == ("ok", 3, 6, 3), out


def test_our_checkpoint_signed_ahead_of_our_clock_is_signed_again(engine: sa.Engine) -> None:
    first = latest_checkpoint(engine)
    assert latest_checkpoint(engine).id == first.id  # fresh: served again
    with Session(engine) as s:
        row = s.get(ExchangeCheckpoint, first.id)
        assert row is not None
        row.issued_at = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
        s.add(row)
        s.commit()
    again = latest_checkpoint(engine)
    assert again.id != first.id and again.size == first.size and again.root == first.root
    assert f"time {iso(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))[:10]}" not in again.text


def test_a_round_gathering_does_not_take_a_kept_checkpoint_dated_ahead(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A checkpoint dated ahead kept by a sync before this check is not taken as signed after
    the commitment: the partner is asked (down here: the round waits for it)."""
    sh = make_bureau(tmp_path, "310000")
    sh.base_url = "http://127.0.0.1:9"  # down
    write_directory(tmp_path / "home" / "partners.toml", [sh])
    now = dt.datetime.now(dt.UTC)
    ahead = format_checkpoint(sh.origin, 1, hashlib.sha256(b"x").digest(),
                              now + dt.timedelta(days=1), sh.key.private)  # fmt: skip
    with Session(engine) as s:
        s.add(PartnerState(partner_code="310000", size=1, checkpoint=ahead))
        s.commit()
    with pytest.raises(EntropyUnavailable, match="waiting for partner 310000"):
        _fresh("310000", now - dt.timedelta(hours=1))
