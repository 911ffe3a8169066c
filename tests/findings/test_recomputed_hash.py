"""A stored version's content hash, recomputed from its columns without a dict
(``findings.integrity.recomputed_hash``, which a publish runs on every version it reads), is
``content_digest`` of the content the row holds: its JSON lists parsed (whatever their text's
spacing and key order), a list that no longer parses hashed as its text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from findings.integrity import Stored, recomputed_hash
from findings.schemas import content_digest

TEXTS = ["", "<b>\"&'</b>", "a\\b\nc\r\td\x00\x1f\x7f", "=1+1", "\u2028\u202e\ufeff", "😀"]
LISTS = [
    "[]",
    '[{"kind": "rectify", "deadline": "2027-01-15", "text": ""}]',  # PostgreSQL's spacing
    '[{"text":"<x>\\n","kind":"rectify_now","deadline":null}]',  # keys out of order
    '[{"body": "CQC", "number": "=2", "action": "suspended"}, {"z": [1, {"b": 2, "a": 1}]}]',
    "[1.5, -0, 1e3, true, null]",
    "not json [",  # hashed as its text: it differs from any content submitted
]


def _content(row: Stored) -> dict[str, Any]:
    def parsed(text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError:
            return text

    return {"result": row.result, "check_date": row.check_date, "description": row.description,
            "certificates": parsed(row.certificates), "measures": parsed(row.measures),
            "evidence": parsed(row.evidence), "internal_note": row.internal_note}  # fmt: skip


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("listed", LISTS)
def test_the_hash_is_content_digest_of_the_row(text: str, listed: str) -> None:
    row = Stored("h", "reason", "coordinator:b", "no_problem" + text, "2026-12-01", text,
                 listed, LISTS[-2 - LISTS.index(listed) % 3], listed, text)  # fmt: skip
    assert recomputed_hash(row) == content_digest(_content(row))
