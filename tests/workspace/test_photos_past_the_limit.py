"""An inspector chooses more photos at once than one post may carry, in Chromium at 390 px with
JavaScript off. The form's post is refused before it is read when its photos together pass
the limit a single file has (``SHUANGSUI_EVIDENCE_MAX_BYTES``: api.app bounds the whole post
by it), so the page must say so beforehand and, when it happens, what to do: the form's hint
said only 每个文件不超过 25 MB, and the refusal 照片等文件合计超过了上限 with no figure and no
word that what was typed was not saved, its 继续 leading to the empty form. Now the hint says the
total too, the refusal the limit and the way back (the browser's 返回 keeps the typed text),
and saving the photos a few at a time, as it advises, records them all."""

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
def test_photos_past_the_limit_together_are_said_and_saved_a_few_at_a_time(
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
        said = page.locator("main").inner_text()
        assert "合计不能超过 512 KB" in said and "本次未保存任何内容" in said, said
        assert "浏览器的“返回”" in said
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(tmp_path / "1-refused.png"), full_page=True)
        assert service.history(engine, ROUND, code).versions == []

        page.go_back()  # as the page says: the typed text is still there
        assert page.get_by_label("检查情况").input_value() == TYPED
        page.get_by_label("拍照或选择照片").set_input_files([first])
        page.get_by_role("button", name="保存草稿").click()
        page.wait_for_url("**?saved=1")
        page.get_by_label("拍照或选择照片").set_input_files([second])
        page.get_by_role("button", name="提交并签字").click()
        page.wait_for_url("**?submitted=1")
        page.screenshot(path=str(tmp_path / "2-submitted.png"), full_page=True)

    (version,) = service.history(engine, ROUND, code).versions
    assert version.description == TYPED
    assert sorted(e["filename"] for e in version.evidence) == ["gate.jpg", "plate.jpg"]
