"""A partner's entries: what parsing accepts, and the rows applying them stores."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from draw.canonical import canonical_json
from draw.merkle import leaf_hash
from exchange.apply import Verified, apply_entries
from exchange.directory import Partner
from exchange.entries import make_entry, parse_entry
from exchange.errors import LogContentRefused
from exchange.models import PartnerEntry

AT = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
ORIGIN = "shuangsui.310000"


def _entry(seq: int, body: dict, kind: str = "result", supersedes: str | None = None) -> bytes:
    return make_entry(origin=ORIGIN, seq=seq, entry_id=f"{kind}/{seq}", kind=kind, at=AT,
                      body=body, supersedes=supersedes)  # fmt: skip


def test_parse_accepts_canonical_entries_and_refuses_the_rest() -> None:
    data = _entry(3, {"credit_code": "91350100MA0000001X", "n": [1, -2, 2**53 - 1], "s": "é"})
    assert parse_entry(data, origin=ORIGIN, seq=3)["body"]["s"] == "é"
    refused = {
        data.replace(b"[1,", b"[1.5,"): "a float (1.5)",
        data.replace(b"[1,", b"[1e3,"): "a float (1e3)",
        data.replace(b"[1,", b"[NaN,"): "a float (NaN)",
        data.replace(b"[1,", b"[9007199254740992,"): "integer 9007199254740992 outside",
        data.replace(b"[1,", b"[1, "): "not canonical JSON",
        data.replace(b"[1,", b"[01,"): "not JSON",
        data[:-1]: "not JSON",
        b"\xff" + data: "not JSON",
        _entry(4, {}): "wrong version, origin or sequence number",
    }
    for bad, reason in refused.items():
        with pytest.raises(ValueError, match=re.escape(f"entry 3: {reason}")):
            parse_entry(bad, origin=ORIGIN, seq=3)


def test_make_entry_writes_canonical_bytes_and_refuses_what_is_never_shared() -> None:
    body = {"credit_code": "91350100MA0000001X", "summary": "现场检查", "n": [1, True, None],
            "assistance": {"requester": "310000", "request_id": "r-1"}}  # fmt: skip
    doc = {"v": 1, "origin": ORIGIN, "seq": 7, "id": "correction/7", "kind": "correction",
           "at": "2026-12-01T09:00:00Z", "supersedes": "result/3", "body": body}  # fmt: skip
    assert _entry(7, body, "correction", "result/3") == canonical_json(doc)
    # a tuple is no plain JSON value: the full checks take it, and encode it as a list
    assert _entry(7, body | {"n": (1, True, None)}, "correction", "result/3") == canonical_json(doc)
    never = {
        "body.Email": {"Email": "a@b.example.cn"},
        "body.team[1].phone": {"team": [{"name": "x"}, {"phone": "123"}]},
        "body.window.internal_notes": {"window": {"internal_notes": "..."}},
    }
    for path, bad in never.items():
        with pytest.raises(LogContentRefused, match=re.escape(f"{path}: never shared")):
            _entry(8, body | bad)
    for value, reason in ((1.5, "floats are not allowed"), (2**53, "outside the I-JSON range")):
        with pytest.raises(TypeError, match=reason):
            _entry(8, body | {"n": [value]})
    with pytest.raises(TypeError, match="not allowed in canonical JSON"):  # the wrapper too
        make_entry(origin=ORIGIN, seq=8, entry_id=b"result/8", kind="result", at=AT, body=body)  # type: ignore[arg-type]


def test_applied_rows_hold_each_column(engine: sa.Engine) -> None:
    partner = Partner("310000", "上海", "310000", "http://sh.test", (), {"CCC-01": "RZ-01"})
    bodies: list[tuple[str, dict[str, Any], str | None]] = [
        ("result", {"credit_code": "91310000MA0000001X", "check_item": "CCC-01",
                    "inspected_on": "2026-11-20", "outcome": "合格"}, None),
        ("correction", {"credit_code": "91310000MA0000001X", "check_item": "XX-09",
                        "inspected_on": "not a date", "outcome": "不合格"}, "result/0"),
        ("round", {"credit_code": "91310000MA0000009X", "check_item": 7}, None),
    ]  # fmt: skip
    entries = []
    for seq, (kind, body, supersedes) in enumerate(bodies):
        data = _entry(seq, body, kind, supersedes)
        entries.append(Verified(seq, data, parse_entry(data, origin=ORIGIN, seq=seq),
                                leaf_hash(data)))  # fmt: skip
    with Session(engine) as session:
        assert apply_entries(session, partner, entries, "350000") == 3
        session.commit()
    with Session(engine) as session:
        rows = session.exec(select(PartnerEntry).order_by(PartnerEntry.seq)).all()  # type: ignore[arg-type]
        got = [(r.partner_code, r.seq, r.entry_id, r.kind, r.supersedes, r.credit_code,
                r.check_item, r.event_date, r.body.encode(), r.leaf_hash)
               for r in rows]  # fmt: skip
        stamps = [r.applied_at.replace(tzinfo=dt.UTC) for r in rows]
    assert got == [
        ("310000", 0, "result/0", "result", None, "91310000MA0000001X", "RZ-01",
         dt.date(2026, 11, 20), entries[0].data, entries[0].leaf_hash.hex()),
        ("310000", 1, "correction/1", "correction", "result/0", "91310000MA0000001X", "XX-09",
         None, entries[1].data, entries[1].leaf_hash.hex()),
        ("310000", 2, "round/2", "round", None, None, None, None, entries[2].data,
         entries[2].leaf_hash.hex()),
    ]  # fmt: skip
    now = dt.datetime.now(dt.UTC)
    assert all(now - dt.timedelta(minutes=5) < t <= now for t in stamps)
    assert canonical_json(entries[0].doc) == entries[0].data
