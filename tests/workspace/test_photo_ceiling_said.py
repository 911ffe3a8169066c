"""The findings form's ceiling (four times ``SHUANGSUI_EVIDENCE_MAX_BYTES``:
``workspace.photo_form.ceiling``), past which a post is refused unread, said where it matters:
the form's hint said the photos' limit and that the text is kept past it, never that a post
past the ceiling keeps nothing; and the reverse proxy of docs/operations.md refused every post
past 26 MB itself (``client_max_body_size 26m``, the evidence limit's), so at the default limit
(ceiling 100 MB) a post of 26 to 100 MB met the proxy's English 413 and lost its text, where
shuangsui would have read it through and kept it.

In Chromium at 390 px with JavaScript off (screenshots under the test's tmp folder): the hint
says the ceiling, a post past it is refused by a page saying the ceiling and the limit, and the
browser's 返回 has the text typed; both databases. And the proxy's sample, read from the docs."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from api.app import create_app
from findings import service
from findings.settings import FindingsSettings
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND
from tests.findings.live import serve
from tests.workspace.helpers import delivered_round, outbox_link, sign_in_page
from workspace.photo_form import ceiling

LIMIT = 512 * 1024  # the ceiling: 2 MB
TYPED = "现场核对铭牌与证书一致"
OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"


@pytest.mark.slow
def test_the_ceiling_is_said_before_and_after_a_post_past_it(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHUANGSUI_EVIDENCE_MAX_BYTES", str(LIMIT))
    teams = delivered_round(engine, monkeypatch)
    code, (a, _b) = sorted(teams.items())[0]
    photos = []
    for n in range(5):  # 2.5 MB together
        path = tmp_path / f"p{n}.jpg"
        path.write_bytes(b"\xff\xd8\xff\xe0" + bytes([n]) * (500 * 1024) + b"\xff\xd9")
        photos.append(path)
    with serve(create_app(engine=engine)) as base, headless() as browser:
        page = phone(browser).new_page()
        sign_in_page(page, outbox_link(code, a, base))
        hint = page.locator("#attachment-kinds").inner_text()
        assert "一次发送的内容合计超过 2 MB 时，整个表单不读取，文字也不保存" in hint, hint
        page.get_by_label("检查结果").select_option(label="未发现问题")
        page.get_by_label("检查日期").fill(dt.date(2026, 12, 7).isoformat())
        page.get_by_label("检查情况").fill(TYPED)
        page.get_by_label("拍照或选择照片").set_input_files(photos)
        page.screenshot(path=str(tmp_path / "1-form.png"), full_page=True)
        page.get_by_role("button", name="提交并签字").click()
        page.wait_for_load_state()
        said = page.locator("main").inner_text()
        assert "一次提交不能超过 2 MB（其中照片和文件合计最多保存 512 KB）" in said, said
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(tmp_path / "2-refused.png"), full_page=True)
        page.go_back()  # as the page says
        page.wait_for_load_state()
        assert page.get_by_label("检查情况").input_value() == TYPED
    assert service.history(engine, ROUND, code).versions == []


def _body_limits(text: str) -> dict[str, int]:
    """The nginx sample's ``client_max_body_size`` by where it applies ("" for the server,
    else the location's prefix), in bytes."""
    (sample,) = re.findall(r"```nginx\n(.*?)```", text, re.S)
    out, where = {}, ""
    for line in sample.splitlines():
        if found := re.match(r"\s*location\s+(\S+)\s*\{", line):
            where = found[1]
        if found := re.search(r"client_max_body_size\s+(\d+)([km]?);", line):
            out[where] = int(found[1]) * {"": 1, "k": 1024, "m": 1024 * 1024}[found[2]]
        if "}" in line.split("#")[0]:
            where = ""
    return out


def test_the_proxys_sample_lets_the_findings_form_through_up_to_its_ceiling() -> None:
    limits = _body_limits(OPERATIONS.read_text(encoding="utf-8"))
    default = FindingsSettings.model_fields["evidence_max_bytes"].default
    form = next((n for where, n in limits.items() if where.startswith("/w/a/")), limits[""])
    assert form >= ceiling(default), limits
    assert limits[""] >= default, limits  # the evidence upload, the largest of the others
