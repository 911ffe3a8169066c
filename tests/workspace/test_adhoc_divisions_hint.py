"""The ad hoc form's 限定行政区划 names the prefecture-level divisions of the bureau's
jurisdiction with their codes: the field takes GB/T 2260 codes, and a coordinator had to know
them (or be refused, 不是有效的行政区划代码, and look them up elsewhere)."""

from __future__ import annotations

import re

import httpx

from tests.workspace.helpers import sign_in


def test_the_divisions_field_names_the_jurisdictions_prefectures(
    coordinator_live: tuple[str, dict, str],
) -> None:
    base, _teams, ssc = coordinator_live
    with httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        page = http.get("/w/c/adhoc").text
    hint = re.search(r'<p class="hint" id="divisions-hint">(.*?)</p>', page, re.S)
    assert hint and 'aria-describedby="divisions-hint"' in page
    named = re.findall(r"(\d{6}) (\S+?)(?:、|；)", hint.group(1))
    assert ("350100", "福州市") in named and ("350900", "宁德市") in named, named
    assert len(named) == 9 and all(code.startswith("35") for code, _ in named), named
