"""A photo whose file name is far too long, chosen on the inspector's page.

A name of 2,000 Chinese characters (6,000 bytes) passes the multipart parser's bound on a part's
header (python-multipart: 4 KiB), and the whole post was refused 400 with the parser's English
(表单无法读取：格式有误（Invalid multipart data.）), the text typed lost. A shorter name past
the finding's 255 characters (2,000 ASCII letters, within the bound) was stored cut to 255,
silently, its extension gone. Now both are refused by name, like the other photo refusals,
saying the limit: the text typed is kept as the draft, and a photo sent before the long name
(within the parser's bound: each other photo) is kept as well."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page

from findings import service
from shuangsui.config import get_settings
from tests.findings.factories import ROUND
from tests.findings.media_samples import JPEG
from tests.workspace.helpers import FORM, TYPED, csrf_of, fill_form, fits, open_assignment
from workspace import drafts

LONG = "门头照片" * 500  # 2,000 characters, 6,000 bytes in UTF-8


def _draft(code: str, member: str) -> dict:
    return drafts.load(get_settings().home, ROUND, code, member)


@pytest.mark.slow
def test_a_name_past_the_parsers_bound_is_said_and_the_text_kept(
    engine: sa.Engine, on_a_phone: tuple[Page, str], tmp_path: Path
) -> None:
    page, code = on_a_phone
    long = {"name": LONG + ".jpg", "mimeType": "image/jpeg", "buffer": JPEG}
    fill_form(page)
    page.get_by_label("拍照或选择照片").set_input_files([long])
    page.get_by_role("button", name="提交并签字").click()
    page.wait_for_load_state()
    said = page.locator("#errors").inner_text()
    assert "Invalid" not in said and "格式有误" not in said, said
    assert "照片“门头照片门头照片" in said and "…”未保存：文件名过长" in said, said
    assert "最多 255 个字符" in said and "已填写的文字已保存为草稿" in said, said
    beside = page.locator("#attachments .field-error").inner_text()
    assert "文件名过长" in beside
    fits(page, tmp_path / "1-name-too-long.png")
    assert service.history(engine, ROUND, code).versions == []
    (draft,) = [p for p in drafts.drafts_dir(get_settings().home).glob("*.json")]
    assert draft.exists()

    page.reload()  # the draft as saved
    assert page.get_by_label("检查情况").input_value() == TYPED
    short = {"name": "门头.jpg", "mimeType": "image/jpeg", "buffer": JPEG}  # renamed
    page.get_by_label("拍照或选择照片").set_input_files([short])
    page.get_by_role("button", name="提交并签字").click()
    page.wait_for_url("**?submitted=1")
    (version,) = service.history(engine, ROUND, code).versions
    assert version.description == TYPED
    assert [e["filename"] for e in version.evidence] == ["门头.jpg"]


def test_a_name_past_255_characters_is_refused_by_name_and_the_rest_kept(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    name = "a" * 1996 + ".jpg"
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        files = [("photo", ("门头.jpg", JPEG, "image/jpeg")),
                 ("photo", (name, JPEG + b"2", "image/jpeg"))]  # fmt: skip
        r = http.post(path, data={"csrf": csrf_of(html), **FORM, "action": "submit"}, files=files)
    assert r.status_code == 422, r.text[-800:]
    assert "文件“aaaaaaaaaaaa" in r.text and "…”未保存：文件名过长（2000 个字符）" in r.text
    assert "最多 255 个字符" in r.text and name not in r.text
    draft = _draft(code, team[0])
    assert draft["description"] == FORM["description"]
    assert [e["filename"] for e in draft["evidence"]] == ["门头.jpg"]
    assert service.history(engine, ROUND, code).versions == []
