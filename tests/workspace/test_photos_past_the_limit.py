"""An inspector chooses more photos at once than one post may store, in Chromium at 390 px with
JavaScript off. The form's post was refused before it was read when its photos together passed
the limit a single file has (``SHUANGSUI_EVIDENCE_MAX_BYTES``: api.app bounded the whole post
by it), so what was typed came back only through the browser's 返回. Now the post is read
through (``workspace.photo_form``): the page comes back with the text as typed and saved as the
draft, the photo that fitted attached, the one that did not named beside the photos with its
size and the limit; choosing it again and submitting records both."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from api.app import create_app
from findings import service
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND
from tests.findings.live import serve
from tests.workspace.helpers import delivered_round, outbox_link, sign_in_page

LIMIT = 512 * 1024  # said 512 KB
TYPED = "铭牌与证书一致，现场拍照三张"


def _photo(folder: Path, name: str) -> Path:
    """A JPEG of 300 KB, its bytes its own: one is under the limit, two together past it."""
    path = folder / name
    path.write_bytes(b"\xff\xd8\xff\xe0" + name.encode() * (300 * 1024 // len(name)) + b"\xff\xd9")
    return path


@pytest.mark.slow
def test_a_photo_past_the_limit_together_is_named_and_the_form_kept(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHUANGSUI_EVIDENCE_MAX_BYTES", str(LIMIT))
    teams = delivered_round(engine, monkeypatch)
    code, (a, _b) = sorted(teams.items())[0]
    first, second = _photo(tmp_path, "gate.jpg"), _photo(tmp_path, "plate.jpg")

    with serve(create_app(engine=engine)) as base, headless() as browser:
        page = phone(browser).new_page()
        sign_in_page(page, outbox_link(code, a, base))
        hint = page.locator("#attachment-kinds").inner_text()
        assert "每个文件不超过 512 KB" in hint and "合计也不超过 512 KB" in hint
        page.get_by_label("检查结果").select_option(label="未发现问题")
        page.get_by_label("检查日期").fill(dt.date(2026, 12, 7).isoformat())
        page.get_by_label("检查情况").fill(TYPED)
        page.get_by_label("拍照或选择照片").set_input_files([first, second])
        page.get_by_role("button", name="提交并签字").click()
        said = page.locator("#errors").inner_text()
        assert "照片“plate.jpg”（300 KB）未保存" in said and "合计不能超过 512 KB" in said, said
        beside = page.locator("#attachments .field-error").inner_text()
        assert "plate.jpg" in beside and "请再次选择它" in beside
        assert page.get_by_label("检查情况").input_value() == TYPED  # the form as typed
        assert page.locator("#attachments .evidence li").count() == 1  # gate.jpg, kept
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(tmp_path / "1-one-not-kept.png"), full_page=True)
        assert service.history(engine, ROUND, code).versions == []

        page.get_by_label("拍照或选择照片").set_input_files([second])  # as the page says
        page.get_by_role("button", name="提交并签字").click()
        page.wait_for_url("**?submitted=1")
        page.screenshot(path=str(tmp_path / "2-submitted.png"), full_page=True)

    (version,) = service.history(engine, ROUND, code).versions
    assert version.description == TYPED
    assert sorted(e["filename"] for e in version.evidence) == ["gate.jpg", "plate.jpg"]
