"""A published result's body written straight from its fields (``result_body_json``, what a
publish shares a result at a time) is ``canonical_json``'s bytes of ``result_body``, whatever
the text holds, inside an entry as on its own; a field that is not text is refused as
``canonical_json`` refuses it."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from draw.canonical import canonical_json
from exchange.entries import make_entry
from exchange.publish import result_body, result_body_json

AT = dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 30)
TEXTS = [
    "",
    "现场检查 <b>&'\"</b>",
    'a\\b"c\nd\r\te\x00\x1f\x7f',
    '=HYPERLINK("x")',
    "\u2028\u2029\u202e\ufeff",
    "😀 \U0010ffff",
    "x" * 10_000,
]


def _fields(text: str) -> dict[str, Any]:
    return {"credit_code": "91350100MA0000001X" + text[:3], "check_item": "CCC-01" + text[-2:],
            "inspected_on": DAY, "outcome": "no_problem", "round_key": "r-" + text[:5],
            "summary": text}  # fmt: skip


@pytest.mark.parametrize("text", TEXTS)
def test_the_body_is_canonical_json_of_result_body(text: str) -> None:
    fields = _fields(text)
    written = result_body_json(**fields)
    assert written.encode() == canonical_json(result_body(**fields))


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("supersedes", [None, "result/r-1/91350100MA0000001X/CCC-01"])
def test_an_entry_of_it_is_the_entry_of_the_dict(text: str, supersedes: str | None) -> None:
    fields = _fields(text)
    common = {"origin": "shuangsui.350000", "seq": 17, "entry_id": "correction/" + text[:4],
              "kind": "correction", "at": AT, "supersedes": supersedes}  # fmt: skip
    written = make_entry(body=result_body_json(**fields), **common)
    assert written == make_entry(body=result_body(**fields), **common)
    doc = json.loads(written)
    assert canonical_json(doc) == written and doc["body"] == result_body(**fields)


def test_a_field_not_text_goes_through_canonical_json() -> None:
    fields = _fields("x") | {"summary": None}
    assert result_body_json(**fields).encode() == canonical_json(result_body(**fields))
    with pytest.raises(TypeError) as written:
        result_body_json(**(_fields("x") | {"summary": 1.5}))
    with pytest.raises(TypeError) as canonical:
        canonical_json(result_body(**(_fields("x") | {"summary": 1.5})))
    assert str(written.value) == str(canonical.value)
