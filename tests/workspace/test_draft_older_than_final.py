"""A member's draft saved before the result became final is not offered once it is.

Member B saves a draft; A submits version 1 (B's draft is then older than it, and the page
offers it: 用我的草稿填写更正); B reads version 1 and signs it, and the result is final. The
page went on offering the draft written before it, above the final result, until B saved
again; and a correction B began on version 1 and left for the signature filled the form of
the final result. Now a draft saved before the latest version became final is neither offered
nor filled in: the form starts from the final result (the draft's file stays until B saves
again, as before). A draft saved after it (a correction of the final result begun) is the
form's, as before. Over a real server; both databases."""

from __future__ import annotations

import re

import httpx
import sqlalchemy as sa

from shuangsui.config import get_settings
from tests.findings.factories import ROUND
from tests.workspace.helpers import FORM, csrf_of, open_assignment, submitted
from workspace import drafts

MINE = "乙的草稿：写于结果确认之前"


def _description(page: str) -> str:
    """The 检查情况 the findings form starts from."""
    found = re.search(r'<textarea[^>]*name="description"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, page[:500]
    return found[1].strip()


def _signed_final(http: httpx.Client, path: str, page: str) -> str:
    """B signs version 1, the result final: the page after it."""
    signed = http.post(f"{path}/sign", data={"csrf": csrf_of(page), "version": "1"})
    assert signed.status_code == 303, signed.text[-500:]
    return http.get(path).text


def test_a_draft_saved_before_the_result_was_final_is_not_offered(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, (a, b) = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        path, page = open_assignment(http, base, code, b)
        saved = http.post(path, data={"csrf": csrf_of(page), **FORM, "description": MINE,
                                      "base_version": "0", "action": "draft"})  # fmt: skip
        assert saved.status_code == 303, saved.text[-500:]
        submitted(engine, code, a)
        page = http.get(path).text
        assert 'id="stale-draft"' in page and "用我的草稿填写更正" in page  # offered, not final
        page = _signed_final(http, path, page)
    assert 'id="stale-draft"' not in page and "用我的草稿填写更正" not in page
    assert _description(page) == FORM["description"]  # the final result's
    assert drafts.load(get_settings().home, ROUND, code, b)["description"] == MINE  # kept


def test_a_correction_begun_before_the_signature_is_not_the_final_results_form(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, (a, b) = sorted(teams.items())[0]
    submitted(engine, code, a)
    with httpx.Client(base_url=base) as http:
        path, page = open_assignment(http, base, code, b)
        form = {"csrf": csrf_of(page), **FORM, "description": MINE, "base_version": "1"}
        assert http.post(path, data={**form, "action": "draft"}).status_code == 303
        assert _description(http.get(path).text) == MINE  # the correction begun, not final
        page = _signed_final(http, path, http.get(path).text)
        assert _description(page) == FORM["description"]
        assert 'id="stale-draft"' not in page

        # a correction of the final result begun after it: the form's, as before
        assert http.post(path, data={**form, "action": "draft"}).status_code == 303
        assert _description(http.get(path).text) == MINE
