"""A partner on an older shuangsui whose log holds an entry id with a line or paragraph
separator (U+2028, U+2029) or a C1 control (U+0080-U+009F): its check item's code took one,
as every shuangsui's registry did before 5ad083d. The sync was refused at that entry (`entry
0: id holds a control or invisible character`), and, the log being a hash chain, at the same
entry every time: nothing that partner logged after it was ever applied. Protocol version 1
refuses the characters it refused from the start in an id (the C0 controls, DEL, the
bidirectional controls, the zero-width characters: still refused) and takes these, the entry
kept as logged. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from exchange.directory import load_directory
from exchange.models import PartnerEntry, PartnerState
from exchange.sync import sync_partner
from tests.exchange import test_sync
from tests.exchange.bureaus import publish
from tests.exchange.test_partner_bodies import RESULT, _append

pair = test_sync.pair  # Fujian here, Shanghai in process (the fixture)
CODE = "91350100MA0000001X"


@pytest.mark.parametrize("item", ["CCC\u202801", "CCC-01\u0085", "CCC\u2029\u009f01"])
def test_an_entry_id_an_older_partner_logged_is_taken(
    engine: sa.Engine, pair: Any, item: str
) -> None:
    sh, transport = pair
    entry_id = f"result/r-1/{CODE}/{item}"
    _append(sh, entry_id, "result", RESULT | {"credit_code": CODE, "check_item": item})
    publish(sh, "91350100MA0000002X", n=2)  # and what it logged after is applied too
    out = sync_partner(engine, load_directory()["310000"], transport=transport)
    assert (out.status, out.applied) == ("ok", 2), out
    with Session(engine) as s:
        rows = s.exec(select(PartnerEntry).order_by(col(PartnerEntry.seq))).all()
    assert [r.entry_id for r in rows] == [entry_id, "result/310000/91350100MA0000002X/2"]


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\x1b", "\x7f"])
def test_an_entry_id_with_a_character_version_1_refuses_is_still_refused(
    engine: sa.Engine, pair: Any, char: str
) -> None:
    sh, transport = pair
    _append(sh, f"result/r-1/{CODE}/CCC{char}01", "result", RESULT | {"credit_code": CODE})
    out = sync_partner(engine, load_directory()["310000"], transport=transport)
    assert (out.status, out.applied) == ("refused", 0), out
    with Session(engine) as s:
        state = s.get(PartnerState, "310000")
    assert state is not None
    assert "entry 0: id holds a control or invisible character" in (state.last_error or "")
