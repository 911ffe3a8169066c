"""A result's JSON record, written from its fields without a dict (``opendata.record_texts``),
is the compact, key-sorted JSON of the mapping ``_expected`` spells out (the dict each record
was encoded from until it was written so), whatever its texts hold, and reads back as the
same result (``opendata.result_of``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from website.model import Correction, PublicResult
from website.opendata import record_texts, result_of

TEXTS = ["<script>\"&'</script>", "a\\b\nc\r\td\x00\x1f\x7f", "=1+1", "\u2028\u202e\ufeff", "😀"]
HISTORY = [Correction(1, "2026-12-01", "", "other", "其他"),
           Correction(2, "2026-12-03", TEXTS[0], "no_problem", "未发现问题")]  # fmt: skip
MEASURES = [{"kind": "rectify", "label": "责令整改", "deadline": "2027-01-15"}]
CERTIFICATES = [{"body": TEXTS[2], "number": TEXTS[1], "action": "suspended", "label": "暂停"}]


def _results() -> list[PublicResult]:
    head = ("r-2026-12", "91350100MA0000001X")
    out = [PublicResult(*head, "名", "350102", "鼓楼区", "A", "random", "CCC-01", "", "", "")]
    for text in TEXTS:
        out.append(PublicResult(*head, text, text[:2], text, "B", "targeted", text,
                                "2026-12-01", "no_problem", text, [], [], text, 1))  # fmt: skip
    out.append(PublicResult(*head, "名", "", "", "C", "random", "CCC-01", "2026-12-03",
                            "ordered_to_rectify", "责令整改", MEASURES, CERTIFICATES,
                            TEXTS[1], 2, HISTORY))  # fmt: skip
    return out


def _expected(r: PublicResult) -> dict[str, Any]:
    return {
        "round_key": r.round_key,
        "check_item": r.check_item,
        "credit_code": r.credit_code,
        "enterprise_name": r.name,
        "division_code": r.division_code,
        "division_name": r.division_name,
        "selection": r.selection,
        "check_date": r.check_date or None,
        "result": r.result or None,
        "result_label": r.result_label or None,
        "description": r.description,
        "measures": r.measures,
        "certificates": r.certificates,
        "version": r.version or None,
        "corrections": [c._asdict() for c in r.history],
    }


@pytest.mark.parametrize("result", _results(), ids=range(len(_results())))
def test_a_record_is_the_json_of_its_fields(result: PublicResult) -> None:
    (text,) = record_texts([result])
    expected = _expected(result)
    assert text == json.dumps(expected, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert "\n" not in text  # one record a line
    assert result_of(json.loads(text), result.stratum) == result
