"""The findings JSON API accepts the Chinese labels the workspace and the Excel import show."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from findings.schemas import FindingIn


def test_chinese_labels_are_read_as_their_values() -> None:
    f = FindingIn.model_validate(
        {
            "result": "发现问题，依法责令立即改正或者限期改正",
            "check_date": "2026-12-10",
            "measures": [{"kind": "责令立即改正"}],
            "certificates": [{"body": "CQC", "number": "1", "action": "保持"}],
        }
    )
    assert (f.result, f.measures[0].kind, f.certificates[0].action) == (
        "ordered_to_rectify",
        "rectify_now",
        "kept",
    )
    same = FindingIn.model_validate(
        {
            "result": "ordered_to_rectify",
            "check_date": "2026-12-10",
            "measures": [{"kind": "rectify_now"}],
            "certificates": [{"body": "CQC", "number": "1", "action": "kept"}],
        }
    )
    assert f.content_hash() == same.content_hash()  # the label is not what is stored
    with pytest.raises(ValidationError, match="result"):
        FindingIn.model_validate({"result": "没问题", "check_date": "2026-12-10"})
