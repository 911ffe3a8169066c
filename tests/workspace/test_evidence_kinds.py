"""Evidence of every allowed kind through the inspector's page over real HTTP: a thumbnail only
for the images a browser shows (JPEG, PNG, WebP), every other file (a HEIC photo too) a link
with its kind, name and size, sent as an attachment and never sniffed; a file whose bytes are not
of its declared type refused in Chinese, storing nothing. And in Chromium at 390 px: a photo
and a PDF side by side, nothing wider than the phone, the PDF downloaded under its name."""

from __future__ import annotations

import hashlib
import html
import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from findings import evidence
from findings.models import Evidence
from shuangsui.config import get_settings
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND
from tests.findings.media_samples import HEIC, JPEG, PDF, SAMPLES, WEBP, ZIP
from tests.workspace.helpers import (
    FORM,
    PNG,
    csrf_of,
    delivered_round,
    open_assignment,
    outbox_link,
    sign_in_page,
)
from workspace.attachments import size_label

THUMBNAILS = {"image/jpeg", "image/png", "image/webp"}
KINDS = {
    "image/heic": "HEIC 照片",
    "image/heif": "HEIF 照片",
    "application/pdf": "PDF 文件",
    "video/mp4": "视频",
    "audio/mpeg": "音频",
    "text/plain": "文本",
    "application/zip": "压缩包",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word 文档",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel 表格",
}


def _section(page: str, ident: str) -> str:
    found = re.search(rf'id="{ident}".*?</(fieldset|section)>', page, re.S)
    assert found, f"no #{ident} on the page"
    return found.group(0)


def _files(section: str) -> dict[str, str]:
    """Each file link of a section: its sha256 and its text (kind, name, size)."""
    links = re.findall(
        r'<li class="file"><a href="[^"]+/evidence/([0-9a-f]{64})">(.*?)</a>'
        r'(?:<label class="remove">.*?</label>)?</li>',  # a draft's files have their 移除
        section,
    )
    return {sha: html.unescape(re.sub(r"<[^>]+>", "", text)) for sha, text in links}


def _thumbnails(section: str) -> set[str]:
    return set(re.findall(r'<img src="[^"]+/evidence/([0-9a-f]{64})"', section))


def _stored(engine: sa.Engine) -> tuple[list[str], list[str]]:
    folder = evidence.evidence_dir(Path(get_settings().home))
    files = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    with Session(engine) as db:
        return files, sorted(r.sha256 for r in db.exec(select(Evidence)))


def test_every_kind_is_shown_for_what_it_is_and_served_so(live: tuple[str, dict]) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    sha = {declared: hashlib.sha256(data).hexdigest() for declared, _, data in SAMPLES}
    with httpx.Client(base_url=base) as http:
        path, page = open_assignment(http, base, code, team[0])
        entry = _section(page, "attachments")
        assert 'accept="image/*" capture="environment"' in entry  # the camera, one tap away
        accept = re.search(r'id="attachment" name="attachment" type="file" accept="([^"]+)"', entry)
        assert accept and {"application/pdf", ".pdf", "image/heic", ".heic", ".docx"} <= set(
            accept.group(1).split(",")
        )
        photo, *others = SAMPLES  # the JPEG from the camera, the rest chosen as files
        files = [("photo", (photo[1], photo[2], photo[0]))]
        files += [("attachment", (name, data, declared)) for declared, name, data in others]
        r = http.post(path, data={"csrf": csrf_of(page), **FORM, "action": "submit"}, files=files)
        assert r.status_code == 303, r.text
        page = http.get(path).text
        shown = _section(page, "submitted")
        assert "<dt>附件</dt>" in shown  # not all of them are photos
        assert _thumbnails(shown) == {sha[t] for t in THUMBNAILS}
        links = _files(shown)
        assert set(links) == {sha[t] for t in KINDS}
        for declared, name, data in others:
            if declared in KINDS:
                assert links[sha[declared]].split() == [*KINDS[declared].split(), name,
                                                        *size_label(len(data)).split()]  # fmt: skip
        assert "HEIC 照片 IMG_0001.HEIC" in links[sha["image/heic"]]
        # as served: images inline, every other file an attachment under its name; none sniffed
        for declared, name, data in SAMPLES:
            got = http.get(f"{path}/evidence/{sha[declared]}")
            assert got.status_code == 200 and got.content == data
            assert got.headers["content-type"].split(";")[0] == declared
            assert got.headers["x-content-type-options"] == "nosniff"
            assert "sandbox" in got.headers["content-security-policy"]
            if declared in THUMBNAILS:
                assert "content-disposition" not in got.headers
            else:
                assert got.headers["content-disposition"].startswith("attachment; ")
                assert (
                    f"filename*=UTF-8''{quote(name, safe='')}" in got.headers["content-disposition"]
                )


def test_photos_alone_are_headed_as_photos_and_heic_is_a_link(live: tuple[str, dict]) -> None:
    base, teams = live
    code, team = sorted(teams.items())[1]
    with httpx.Client(base_url=base) as http:
        path, page = open_assignment(http, base, code, team[0])
        files = [("photo", ("gate.png", PNG, "image/png")),
                 ("attachment", ("IMG_0001.HEIC", HEIC, "image/heic"))]  # fmt: skip
        r = http.post(path, data={"csrf": csrf_of(page), **FORM, "action": "draft"}, files=files)
        assert r.status_code == 303
        entry = _section(http.get(path).text, "attachments")
    assert "已添加的照片" in entry
    assert len(_thumbnails(entry)) == 1
    assert list(_files(entry).values()) == [f"HEIC 照片 IMG_0001.HEIC {size_label(len(HEIC))}"]


def test_a_browser_that_does_not_know_a_type_is_read_by_its_extension(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        path, page = open_assignment(http, base, code, team[0])
        files = [("attachment", ("IMG_0001.heic", HEIC, "application/octet-stream"))]
        r = http.post(path, data={"csrf": csrf_of(page), **FORM, "action": "draft"}, files=files)
        assert r.status_code == 303
    with Session(engine) as db:
        assert [r.media_type for r in db.exec(select(Evidence))] == ["image/heic"]


@pytest.mark.parametrize(
    ("field", "sent", "said"),
    [
        ("photo", ("资料.zip", ZIP, "image/png"),
         "它声明为PNG 图片（image/png），但内容看起来是压缩包"),
        ("attachment", ("gate.pdf", PNG, "application/pdf"),
         "它声明为PDF 文件（application/pdf），但内容看起来是PNG 图片"),
        ("attachment", ("说明.txt", "检查记录".encode("gbk"), "text/plain"),
         "不是 UTF-8 编码的文本"),
        ("attachment", ("page.html", b"<html>", "text/html"), "不接受这种文件（text/html）"),
    ],
    ids=["zip-as-png", "png-as-pdf", "gbk-text", "html"],
)  # fmt: skip
def test_a_file_not_of_its_declared_type_is_refused_in_chinese_and_nothing_stored(
    live: tuple[str, dict], engine: sa.Engine, field: str, sent: tuple, said: str
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        path, page = open_assignment(http, base, code, team[0])
        form = {"csrf": csrf_of(page), **FORM, "description": "写了很多字", "action": "submit"}
        r = http.post(path, data=form, files=[(field, sent)])
        assert r.status_code == 422
        errors = html.unescape(_section(r.text, "errors"))
        assert f"文件“{sent[0]}”未保存：" in errors and said in errors, errors
        assert "写了很多字" in r.text  # what was typed is kept
        assert "待填报" in http.get(path).text  # and nothing was submitted
    assert _stored(engine) == ([], [])


def test_a_refused_file_leaves_the_others_attached(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        path, page = open_assignment(http, base, code, team[0])
        files = [("photo", ("门头.jpg", JPEG, "image/jpeg")),
                 ("attachment", ("资料.zip", ZIP, "image/png"))]  # fmt: skip
        r = http.post(path, data={"csrf": csrf_of(page), **FORM, "action": "draft"}, files=files)
        assert r.status_code == 422 and "“资料.zip”未保存" in html.unescape(r.text)
        assert len(_thumbnails(_section(r.text, "attachments"))) == 1
    files_on_disk, rows = _stored(engine)
    assert len(files_on_disk) == len(rows) == 1


@pytest.mark.slow
@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_photo_and_a_pdf_on_a_phone(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, javascript: bool
) -> None:
    from api.app import create_app
    from tests.findings.live import serve

    teams = delivered_round(engine, monkeypatch)
    code, team = sorted(teams.items())[0]
    photo = tmp_path / "gate.png"
    photo.write_bytes(PNG)
    name = "关于某某认证有限公司现场检查发现问题的整改通知书（第二次复查）附件一_Final_Report.pdf"
    pdf = tmp_path / name
    pdf.write_bytes(PDF)

    with serve(create_app(engine=engine)) as base, headless() as browser:
        ctx = phone(browser, javascript=javascript)
        page = ctx.new_page()
        sign_in_page(page, outbox_link(code, team[0], base))
        page.get_by_label("检查结果").select_option(label="未发现问题")
        page.get_by_label("检查日期").fill("2026-12-10")
        page.get_by_label("拍照或选择照片").set_input_files(str(photo))
        page.get_by_label("添加其他文件").set_input_files(str(pdf))
        page.get_by_role("button", name="提交并签字").click()
        page.wait_for_url(f"**/w/a/{ROUND}/{code}?submitted=1")
        shown = page.locator("#submitted")
        assert shown.locator("img").count() == 1
        link = shown.locator("li.file a")
        assert link.count() == 1
        text = link.inner_text()
        assert text.startswith("PDF 文件") and name in text and size_label(len(PDF)) in text
        page.screenshot(path=str(tmp_path / "evidence-390.png"), full_page=True)
        if javascript:  # measuring needs the page's script engine
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
            assert link.bounding_box()["width"] <= PHONE["width"]
        with page.expect_download() as download:
            link.click()
        assert download.value.suggested_filename == name
        ctx.close()


@pytest.mark.slow
def test_each_photo_is_a_thumbnail_the_phone_draws_and_heic_a_link(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Chromium at 390 px, JavaScript off: a JPEG, a PNG and a WebP chosen as photos are drawn
    (each thumbnail decoded: the walk-through's were broken images, its PNG's checksums
    wrong), a HEIC photo from the files is a link (Chromium cannot draw it), never an image."""
    from api.app import create_app
    from tests.findings.live import serve

    teams = delivered_round(engine, monkeypatch)
    code, team = sorted(teams.items())[0]
    photos = [{"name": name, "mimeType": kind, "buffer": data} for name, kind, data in
              [("门头.jpg", "image/jpeg", JPEG), ("铭牌.png", "image/png", PNG),
               ("产品.webp", "image/webp", WEBP)]]  # fmt: skip
    heic = {"name": "IMG_0001.HEIC", "mimeType": "", "buffer": HEIC}  # as a phone's files send it
    with serve(create_app(engine=engine)) as base, headless() as browser:
        page = phone(browser).new_page()
        sign_in_page(page, outbox_link(code, team[0], base))
        page.get_by_label("拍照或选择照片").set_input_files(photos)
        page.get_by_label("添加其他文件").set_input_files([heic])
        page.get_by_role("button", name="保存草稿").click()
        page.wait_for_url("**?saved=1")
        page.wait_for_load_state("load")  # every image fetched
        shown = page.locator("#attachments .evidence")
        drawn = shown.locator("img").evaluate_all(
            "imgs => imgs.map(i => [i.alt, i.complete && i.naturalWidth > 0])"
        )
        assert sorted(drawn) == [["JPEG 照片 门头.jpg", True], ["PNG 图片 铭牌.png", True],
                                 ["WebP 图片 产品.webp", True]], drawn  # fmt: skip
        link = shown.locator("li.file a")
        assert link.count() == 1 and link.inner_text().startswith("HEIC 照片")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        page.screenshot(path=str(tmp_path / "photos-390.png"), full_page=True)
