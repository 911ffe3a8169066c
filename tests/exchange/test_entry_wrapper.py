"""The wrapper of an entry (origin, seq, id, supersedes) is checked without a walk of its own:
whatever values it is given, the bytes are ``canonical_json``'s, or refused as it refuses."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from draw.canonical import canonical_json
from exchange.entries import MAX_SAFE_INT, make_entry
from exchange.log import NewEntry

AT = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
BODY = {"credit_code": "91350100MA0000001X", "summary": "现场检查 <b>&'\"", "n": [1, None]}


def _doc(origin: Any, seq: Any, entry_id: Any, supersedes: Any) -> dict[str, Any]:
    return {"v": 1, "origin": origin, "seq": seq, "id": entry_id, "kind": "result",
            "at": "2026-12-01T09:00:00Z", "supersedes": supersedes, "body": BODY}  # fmt: skip


@pytest.mark.parametrize(
    ("origin", "seq", "entry_id", "supersedes"),
    [
        ("shuangsui.350000", 0, "result/r/1/CCC-01", None),
        ("shuangsui.350000", MAX_SAFE_INT, "result/r/1/CCC-01", "result/r/0/CCC-01"),
        ("shuangsui.350000", -MAX_SAFE_INT, "é/\u2028", ""),
        ("shuangsui.350000", True, "result/1", None),  # a bool is an int, as canonical_json says
        (None, 3, "result/1", None),  # not text: the full checks take it
        ("shuangsui.350000", 3, None, None),
        ("shuangsui.350000", 3, "result/1", ["a", 1]),
        ("shuangsui.350000", 3, "result/1", {"k": "v"}),
    ],
)
def test_any_wrapper_gives_canonical_bytes(
    origin: Any, seq: Any, entry_id: Any, supersedes: Any
) -> None:
    data = make_entry(origin=origin, seq=seq, entry_id=entry_id, kind="result", at=AT,
                      body=BODY, supersedes=supersedes)  # fmt: skip
    assert data == canonical_json(_doc(origin, seq, entry_id, supersedes))


@pytest.mark.parametrize("seq", [MAX_SAFE_INT + 1, -MAX_SAFE_INT - 1, 1.0])
def test_a_wrapper_canonical_json_refuses_is_refused(seq: Any) -> None:
    with pytest.raises(TypeError) as made:
        make_entry(origin="o", seq=seq, entry_id="result/1", kind="result", at=AT, body=BODY)
    with pytest.raises(TypeError) as canonical:
        canonical_json(_doc("o", seq, "result/1", None))
    assert str(made.value) == str(canonical.value)


def test_new_entry_reads_by_name_and_position() -> None:
    entry = NewEntry("correction/1", "correction", BODY, "result/1")
    assert (entry.entry_id, entry.kind, entry.body, entry.supersedes) == tuple(entry)
    assert NewEntry("result/1", "result", BODY).supersedes is None
