"""A partner's signed result whose check item code our ``check_item`` column cannot hold as sent:
a NUL in it, or a code too long for the column's index. On PostgreSQL the insert failed with a raw
``DataError`` out of the sync (not a failed outcome: ``partners sync`` stopped there, the partners
after it not synced either), at the same entry every time, so nothing that partner logged after it
was ever applied; the same when an older shuangsui had kept the entry unread (a kind it did not
know) and an upgraded one read it. Now the entry is kept whole with no check item in its column,
as a credit code no column holds is (``test_partner_bodies.py``). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from exchange import entries
from exchange.directory import load_directory
from exchange.models import PartnerEntry
from exchange.sync import sync_partner
from tests.exchange import test_sync
from tests.exchange.bureaus import publish
from tests.exchange.test_partner_bodies import RESULT, _append

pair = test_sync.pair  # Fujian here, Shanghai in process (the fixture)

CODE = "91350100MA0000001X"
# 10,000 hexadecimal digits: past what PostgreSQL's index holds even compressed
TOO_LONG = random.Random(1).randbytes(5000).hex()


def _held(engine: sa.Engine) -> list[tuple[str, str, str | None, str | None]]:
    with Session(engine) as s:
        rows = s.exec(select(PartnerEntry).order_by(col(PartnerEntry.seq))).all()
    return [(r.entry_id, r.kind, r.credit_code, r.check_item) for r in rows]


@pytest.mark.parametrize("item", ["CCC\x00-01", TOO_LONG])
@pytest.mark.parametrize("kept_unread_first", [False, True])
def test_a_result_whose_check_item_no_column_holds_is_kept_without_it(
    engine: sa.Engine, pair: Any, monkeypatch: pytest.MonkeyPatch, item: str,
    kept_unread_first: bool,
) -> None:  # fmt: skip
    sh, transport = pair
    _append(sh, "result/odd/1", "result", RESULT | {"credit_code": CODE, "check_item": item})
    publish(sh, "91350100MA0000002X", n=2)  # and what comes after it is applied too
    partner = load_directory()["310000"]
    if kept_unread_first:  # an older shuangsui, which does not know results, keeps them unread
        with monkeypatch.context() as older:
            older.setattr(entries, "KINDS", tuple(k for k in entries.KINDS if k != "result"))
            out = sync_partner(engine, partner, transport=transport)
        assert (out.status, out.applied, out.unread) == ("ok", 2, {"result": 2})
    out = sync_partner(engine, partner, transport=transport)  # (upgraded: reads them now)
    assert out.status == "ok", out.error
    assert (out.applied, out.reread) == ((0, 2) if kept_unread_first else (2, 0))
    assert _held(engine) == [
        ("result/odd/1", "result", CODE, None),
        ("result/310000/91350100MA0000002X/2", "result", "91350100MA0000002X", "CCC-01"),
    ]
    with Session(engine) as s:
        first = s.exec(select(PartnerEntry).where(col(PartnerEntry.seq) == 0)).one()
    assert json.loads(first.body)["body"]["check_item"] == item  # the entry, whole
    assert sync_partner(engine, partner, transport=transport).status == "ok"  # and after
