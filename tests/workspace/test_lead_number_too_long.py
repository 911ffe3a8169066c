"""A lead's address with a number of ten digits or more (workspace/leads.py ``_known``): the
page said 地址中的线索编号应为数字, which is false (it is digits, only longer than any lead's
number). Now it says the number is too long, still without the address's text; a number of
nine digits or fewer that no lead has is named as before, and one that is no number is still
said as such. The lead's page and its forms' addresses alike, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.workspace.test_leads_pages import Desk, desk  # noqa: F401  (the fixture)

TOO_LONG = "线索编号过长，线索编号最多 9 位数字"


@pytest.mark.parametrize("number", ["00000000001", "1234567890", "9" * 5000])
def test_a_number_too_long_is_said_as_too_long(desk: Desk, number: str) -> None:  # noqa: F811
    with desk.signed_in() as http:
        page = http.get(f"/w/c/leads/{number}")
        csrf = http.get("/w/c/leads").text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        posted = http.post(f"/w/c/leads/{number}/reject", data={"csrf": csrf, "reason": "重复"})
    for r in (page, posted):
        assert r.status_code == 404, r.text[:300]
        assert TOO_LONG in r.text and "应为数字" not in r.text
        assert number not in r.text  # the address's text is never on the page


def test_a_short_number_or_no_number_is_said_as_before(desk: Desk) -> None:  # noqa: F811
    with desk.signed_in() as http:
        missing = http.get("/w/c/leads/999999")
        junk = http.get("/w/c/leads/１２")  # full-width digits: no number of ours
    assert missing.status_code == 404 and "没有线索 999999" in missing.text
    assert junk.status_code == 404 and "线索编号应为数字" in junk.text and TOO_LONG not in junk.text
