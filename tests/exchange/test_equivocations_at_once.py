"""``partners equivocations --out DIR`` run twice into one folder at once: both end without
error and the folder holds every proof, whole and checking, the same as one run writes, with no
temporary file left. The interleaving is forced (``tests.writers.two_at_once``): the first run
is held before its first proof is renamed into place."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from draw.canonical import canonical_json
from exchange import cli as partners
from exchange import equivocation
from exchange.keys import load_or_create
from exchange.models import EquivocationProof
from exchange.notes import format_checkpoint
from tests.crash.test_kill_publish import _leftovers, _tree
from tests.exchange.test_crypto import _key
from tests.writers import two_at_once

AT = dt.datetime(2026, 11, 30, 18, 10, tzinfo=dt.UTC)


def _proofs(engine: sa.Engine, sizes: list[int]) -> None:
    """Shanghai signed two checkpoints of each size; each proof stored as a sync stores it."""
    sh, finder = _key(), load_or_create()
    with Session(engine) as s:
        for size in sizes:
            notes = [(format_checkpoint(sh.origin, size, bytes([n]) * 32, AT, sh.private),
                      f"seen {n}") for n in (1, 2)]  # fmt: skip
            data = canonical_json(equivocation.build(sh.public, notes, finder, AT))
            s.add(EquivocationProof(origin=sh.origin, size=size, found_by=finder.origin,
                                    digest=hashlib.sha256(data).hexdigest(),
                                    proof=data.decode(), detected_at=AT))  # fmt: skip
        s.commit()


def test_proofs_written_while_another_run_writes_the_folder_wait_their_turn(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _proofs(engine, [5, 6, 7])
    out = tmp_path / "proofs"
    failed = two_at_once(monkeypatch, lambda: partners.equivocations(None, out),
                         clears=equivocation)  # fmt: skip
    assert failed == []

    assert _leftovers(out) == []
    clean = tmp_path / "clean"
    partners.equivocations(None, clean)
    written = _tree(out)
    assert written == _tree(clean) and len(written) == 3
    for data in written.values():
        assert equivocation.check(json.loads(data))["origin"] == "shuangsui.310000"
