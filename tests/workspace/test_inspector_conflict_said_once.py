"""A form submitted from a second tab after the first tab's submission (a version came first):
the refusal said 您的内容已保存为草稿 in its item, without a full stop, and the banner said
已填写的内容已保存为草稿 under it, twice the same on a phone's screen. Now the item says who
came first and what to do, ending its sentence, and the banner says once that the draft is
saved. Over a real server; both databases."""

from __future__ import annotations

import re

import httpx

from tests.workspace.helpers import FORM, csrf_of, errors_of, open_assignment


def test_a_version_that_came_first_says_the_draft_is_saved_once(live: tuple[str, dict]) -> None:
    base, teams = live
    code, (member, *_) = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        path, page = open_assignment(http, base, code, member)
        form = {"csrf": csrf_of(page), **FORM, "base_version": "0", "action": "submit"}
        assert http.post(path, data=form).status_code == 303  # the first tab
        r = http.post(path, data={**form, "description": "第二个标签页"})
    assert r.status_code == 409, r.text[-500:]
    said = errors_of(r.text)
    assert "您本人已于" in said and "提交了第 1 版" in said, said
    assert said.count("已保存为草稿") == 1, said
    (item,) = re.findall(r"<li>(.*?)</li>", r.text.split('id="errors"')[1].split("</section>")[0])
    assert item.endswith("。"), item
