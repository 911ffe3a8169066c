"""The inspector's form tried as an inspector on a phone would, in Chromium at 390 px with
JavaScript off (screenshots kept under the test's tmp folder).

* Every refusal of one post is shown at once, each beside its field. A post with a refused file
  was answered with the file's refusal alone: a measure without its deadline and a date outside
  the round's window came only at the next 提交, one more round trip on a phone.
* Held, and pinned: a photo named with a folder's ``../`` (no phone's picker sends one; a
  client may) and an empty photo refused by name, a HEIC photo kept (a link: no browser shows
  it), 保存草稿 then 提交; 提交 tapped twice on a slow line (the first post is abandoned by
  the browser mid-body, the second recorded): one version."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from findings import service
from shuangsui.config import get_settings
from tests.findings.factories import ROUND
from tests.findings.media_samples import HEIC, JPEG, PDF
from tests.workspace.helpers import (
    TYPED,
    fill_form,
    fits,
)
from workspace import drafts


@pytest.mark.slow
def test_a_wrong_photo_a_measure_and_a_date_are_said_together_beside_their_fields(
    engine: sa.Engine, on_a_phone: tuple[Page, str], tmp_path: Path
) -> None:
    page, code = on_a_phone
    fill_form(page, "ordered_to_rectify", "2026-12-05")  # before the round's window, no 说明
    page.get_by_label("措施", exact=True).select_option(value="rectify")  # and no deadline
    # a PDF under a photo's name: its bytes are not a JPEG's
    photo = {"name": "门头.jpg", "mimeType": "image/jpeg", "buffer": PDF}
    page.get_by_label("拍照或选择照片").set_input_files([photo])
    page.get_by_role("button", name="提交并签字").click()
    page.wait_for_load_state()
    listed = page.locator("#errors li").all_inner_texts()
    assert len(listed) == 3, listed
    beside = {
        field: page.locator(f"[id^='{field}-error-']").all_inner_texts()
        for field in ("attachments", "measure_kind", "check_date")
    }
    assert len(beside["attachments"]) == 1 and "门头.jpg" in beside["attachments"][0]
    assert "责令限期改正须填写期限" in beside["measure_kind"][0], beside
    assert beside["check_date"][0].startswith("检查日期 2026-12-05 不在本轮检查期间"), beside
    fits(page, tmp_path / "refusals-beside.png")
    assert service.history(engine, ROUND, code).versions == []


@pytest.mark.slow
def test_odd_photos_then_draft_then_submit(
    engine: sa.Engine, on_a_phone: tuple[Page, str], tmp_path: Path
) -> None:
    page, code = on_a_phone
    fill_form(page)
    odd = [
        {"name": "../../etc/门头.jpg", "mimeType": "image/jpeg", "buffer": JPEG},
        {"name": "铭牌.heic", "mimeType": "image/heic", "buffer": HEIC},
        {"name": "空.jpg", "mimeType": "image/jpeg", "buffer": b""},
    ]
    page.get_by_label("拍照或选择照片").set_input_files(odd)
    page.get_by_role("button", name="保存草稿").click()
    page.wait_for_load_state()
    said = page.locator("#errors").inner_text()
    assert "文件“../../etc/门头.jpg”未保存：文件名中不能有“/”" in said, said
    assert "文件“空.jpg”未保存：文件是空的" in said, said
    kept = page.locator("#attachments .evidence li").all_inner_texts()
    assert len(kept) == 1 and "HEIC 照片" in kept[0] and "铭牌.heic" in kept[0], kept
    fits(page, tmp_path / "1-odd-photos.png")
    (member,) = {p.name for p in drafts.drafts_dir(get_settings().home).glob("*.json")}
    assert member  # one draft, of this member

    page.get_by_role("button", name="提交并签字").click()
    page.wait_for_url("**?submitted=1")
    page.screenshot(path=str(tmp_path / "2-submitted.png"), full_page=True)
    (version,) = service.history(engine, ROUND, code).versions
    assert version.description == TYPED
    assert [e["filename"] for e in version.evidence] == ["铭牌.heic"]


@pytest.mark.slow
def test_submit_tapped_twice_on_a_slow_upload_records_one_version(
    engine: sa.Engine, on_a_phone: tuple[Page, str], tmp_path: Path
) -> None:
    page, code = on_a_phone
    photo = tmp_path / "门头.jpg"
    photo.write_bytes(JPEG[:-2] + b"\0" * (400 * 1024) + b"\xff\xd9")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(  # a slow mobile line: 400 KB take some 4 s to go up
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 300, "downloadThroughput": 50_000,
         "uploadThroughput": 100_000},
    )  # fmt: skip
    fill_form(page)
    page.get_by_label("拍照或选择照片").set_input_files([photo])
    button = page.get_by_role("button", name="提交并签字")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    threading.Event().wait(1.0)  # nothing seems to happen: tapped again
    page.mouse.click(x, y)
    # the page's address, polled: waiting for a navigation would catch the first one's abort
    expect(page).to_have_url(re.compile(r"\?submitted=1$"), timeout=60_000)
    assert "已提交，并已记录您的签字" in page.locator("main").inner_text()
    page.screenshot(path=str(tmp_path / "3-twice.png"), full_page=True)
    (version,) = service.history(engine, ROUND, code).versions
    assert [e["filename"] for e in version.evidence] == ["门头.jpg"]
