"""The inspector's assignment page where a reviewer running a real server found it wanting: forms
the parser refuses, digits that are not ASCII, draft files a crash cut short, files written
without fsync, how a sign-off is recorded, the confirmation after each action, and teammates
who share a name."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from findings import evidence
from findings.models import FindingSignoff, FindingVersion
from registry.models import Inspector
from rounds.models import Round
from shuangsui.config import get_settings
from tests.findings.factories import ROUND
from tests.workspace.helpers import PNG, csrf_of, open_assignment
from workspace import drafts

FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场检查，证书有效"}


def _first_assignment(live: tuple[str, dict]) -> tuple[str, str, list[str]]:
    """The served base URL, and the first enterprise of the round with its team."""
    base, teams = live
    code, team = sorted(teams.items())[0]
    return base, code, team


def _notice(html: str) -> str:
    found = re.search(r'id="notice">([^<]*)<', html)
    return found.group(1) if found else ""


def _draft_files() -> list[Path]:
    return sorted(drafts.drafts_dir(Path(get_settings().home)).glob("*.json"))


def _versions(engine: sa.Engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(FindingVersion)).all())


def test_a_form_the_parser_refuses_is_a_400_that_says_why(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, code, team = _first_assignment(live)
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        csrf = csrf_of(html)
        many = {"csrf": csrf, **FORM, **{f"f{i}": "x" for i in range(1001)}}
        r = http.post(path, data={**many, "action": "submit"})
        assert r.status_code == 400 and "表单字段过多" in r.text, r.text[:300]
        r = http.post(f"{path}/sign", data={**many, "version": "1"})
        assert r.status_code == 400 and "表单字段过多" in r.text, r.text[:300]
        long = {"csrf": csrf, **FORM, "description": "字" * 400_000, "action": "draft"}
        r = http.post(path, data=long, files={"photo": ("gate.png", PNG, "image/png")})
        assert r.status_code == 400 and "超过 1 MiB" in r.text, r.text[:300]
        assert "待填报" in http.get(path).text
    assert _draft_files() == [] and _versions(engine) == 0  # nothing was changed


def test_a_version_number_in_other_digits_is_refused_naming_its_field(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, code, team = _first_assignment(live)
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        csrf = csrf_of(html)
        for number in ("²", "١", "9" * 5000):
            r = http.post(path, data={"csrf": csrf, **FORM, "base_version": number,
                                      "action": "submit"})  # fmt: skip
            assert r.status_code == 422 and "表单中的版本号无效" in r.text, r.text[:300]
        assert _draft_files() == [] and _versions(engine) == 0  # refused before any write
        r = http.post(path, data={"csrf": csrf, **FORM, "base_version": "0", "action": "submit"})
        assert r.status_code == 303
        for number in ("²", "１", "9" * 5000):
            r = http.post(f"{path}/sign", data={"csrf": csrf, "version": number})
            assert r.status_code == 422 and "签字表单中的版本号无效" in r.text, r.text[:300]


def _fsynced(monkeypatch: pytest.MonkeyPatch, seen: list[str]) -> None:
    """Record in ``seen`` the path of each file or folder synced to disk (``os.fsync``)."""
    real = os.fsync

    def fsync(fd: Any) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd if isinstance(fd, int) else fd.fileno()}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_a_draft_cut_short_counts_as_none_and_the_next_save_replaces_it(
    live: tuple[str, dict], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    base, code, team = _first_assignment(live)
    folder = drafts.drafts_dir(Path(get_settings().home)).resolve()
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        draft = {"csrf": csrf_of(html), **FORM, "action": "draft"}
        synced: list[str] = []
        with monkeypatch.context() as patch:
            _fsynced(patch, synced)
            assert http.post(path, data=draft).status_code == 303
        assert any(Path(p).parent == folder for p in synced), f"no draft file synced: {synced}"
        (saved,) = _draft_files()
        for left in (b"", saved.read_bytes()[:20]):  # what a kill or a power cut can leave
            saved.write_bytes(left)
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="workspace.drafts"):
                page = http.get(path)
            assert page.status_code == 200 and "现场检查" not in page.text
            assert saved.name in caplog.text
            r = http.post(path, data={**draft, "description": f"重新填写 {len(left)}"})
            assert r.status_code == 303
            assert f"重新填写 {len(left)}" in http.get(path).text


def test_a_photo_is_on_disk_for_good_before_its_row_is_committed(
    live: tuple[str, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, code, team = _first_assignment(live)
    folder = evidence.evidence_dir(Path(get_settings().home)).resolve()
    events: list[str] = []
    record: Callable[..., Any] = evidence.record

    def recording(*args: Any, **kw: Any) -> Any:
        events.append("record")
        return record(*args, **kw)

    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        draft = {"csrf": csrf_of(html), **FORM, "action": "draft"}
        with monkeypatch.context() as patch:
            _fsynced(patch, events)
            patch.setattr(evidence, "record", recording)
            r = http.post(path, data=draft, files={"photo": ("gate.png", PNG, "image/png")})
        assert r.status_code == 303
    assert "record" in events, events
    before = events[: events.index("record")]
    assert any(Path(p).parent == folder for p in before), f"the file was not synced: {events}"
    assert str(folder) in before, f"the folder (the rename) was not synced: {events}"
    assert (folder / hashlib.sha256(PNG).hexdigest()).read_bytes() == PNG


def test_a_sign_off_in_the_workspace_is_recorded_as_such(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, code, team = _first_assignment(live)
    a, b = team[0], team[1]
    with httpx.Client(base_url=base) as http_a, httpx.Client(base_url=base) as http_b:
        path, html = open_assignment(http_a, base, code, a)
        r = http_a.post(path, data={"csrf": csrf_of(html), **FORM, "action": "submit"})
        assert r.status_code == 303
        _, html_b = open_assignment(http_b, base, code, b)
        r = http_b.post(f"{path}/sign", data={"csrf": csrf_of(html_b), "version": "1"})
        assert r.status_code == 303
    with Session(engine) as s:
        via = {row.inspector_id: row.via for row in s.exec(select(FindingSignoff))}
    assert via == {a: "workspace", b: "workspace"}


def test_each_action_is_confirmed_on_the_page_it_returns_to(live: tuple[str, dict]) -> None:
    base, code, team = _first_assignment(live)
    a, b = team[0], team[1]
    with httpx.Client(base_url=base) as http_a, httpx.Client(base_url=base) as http_b:
        path, html = open_assignment(http_a, base, code, a)
        assert _notice(html) == ""
        form = {"csrf": csrf_of(html), **FORM}
        saved = http_a.post(path, data={**form, "action": "draft"}, follow_redirects=True)
        assert "草稿已保存" in _notice(saved.text)
        sent = http_a.post(path, data={**form, "action": "submit"}, follow_redirects=True)
        assert "已提交" in _notice(sent.text)
        _, html_b = open_assignment(http_b, base, code, b)
        signed = http_b.post(
            f"{path}/sign", data={"csrf": csrf_of(html_b), "version": "1"}, follow_redirects=True
        )
        assert "已签字确认" in _notice(signed.text)
        assert _notice(http_b.get(path).text) == ""  # the page itself, opened again


def test_a_teammate_of_the_same_name_still_gets_the_sign_button(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, code, team = _first_assignment(live)
    a, b = team[0], team[1]
    with Session(engine) as s:
        first, second = s.get(Inspector, a), s.get(Inspector, b)
        assert first is not None and second is not None
        second.name = first.name
        s.add(second)
        s.commit()
    button = "签字确认第 1 版"
    with httpx.Client(base_url=base) as http_a, httpx.Client(base_url=base) as http_b:
        path, html = open_assignment(http_a, base, code, a)
        r = http_a.post(path, data={"csrf": csrf_of(html), **FORM, "action": "submit"})
        assert r.status_code == 303
        assert button not in http_a.get(path).text  # a has signed by submitting
        _, html_b = open_assignment(http_b, base, code, b)
        assert button in html_b
        r = http_b.post(f"{path}/sign", data={"csrf": csrf_of(html_b), "version": "1"})
        assert r.status_code == 303 and "已完成" in http_b.get(path).text


def test_a_form_from_a_tab_opened_before_the_link_was_opened_again_keeps_its_text(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    """The notice's link opened again (a new session) leaves an older tab's form with a token
    of the session replaced: refused and nothing saved, but the page comes back with the text
    typed and this session's token, and sending it again saves it."""
    base, code, team = _first_assignment(live)
    typed = "旧标签页里写的检查情况"
    with httpx.Client(base_url=base) as http:
        path, old_tab = open_assignment(http, base, code, team[0])
        _, new_tab = open_assignment(http, base, code, team[0])  # the link again: a new session
        r = http.post(path, data={"csrf": csrf_of(old_tab), **FORM, "description": typed,
                                  "action": "submit"})  # fmt: skip
        assert r.status_code == 403 and "CSRF" in r.text and "未保存" in r.text
        assert typed in r.text, "what was typed comes back"
        fresh = csrf_of(r.text)
        assert fresh != csrf_of(old_tab) and fresh == csrf_of(new_tab)
        assert _draft_files() == [] and _versions(engine) == 0  # nothing was saved
        again = http.post(path, data={"csrf": fresh, **FORM, "description": typed,
                                      "action": "submit"})  # fmt: skip
        assert again.status_code == 303
    assert _versions(engine) == 1


def test_a_first_finding_dated_outside_the_window_can_be_explained_and_submitted(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    """A check done before the round's window (its reason required by the service) can be
    submitted from the page: the first version's form has the reason's field too."""
    base, code, team = _first_assignment(live)
    with Session(engine) as s:
        rnd = s.get(Round, ROUND)
        assert rnd is not None
        before = (rnd.window_start - dt.timedelta(days=1)).isoformat()
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        assert 'name="reason"' in html, "the first version's form asks for the reason too"
        form = {"csrf": csrf_of(html), **FORM, "check_date": before, "action": "submit"}
        refused = http.post(path, data=form)
        assert refused.status_code == 422 and "不在本轮检查期间" in refused.text
        done = http.post(path, data={**form, "reason": "企业停产，提前一日现场核查"})
        assert done.status_code == 303, done.text[:300]
    assert _versions(engine) == 1


def test_the_deadline_says_how_it_stands_never_zero_days_left() -> None:
    from workspace.assignment import due_label

    monday, friday = dt.date(2026, 12, 7), dt.date(2026, 12, 11)
    assert due_label(monday, friday) == "还有 4 个工作日"
    assert due_label(friday, friday) == "今天截止"
    assert due_label(dt.date(2026, 12, 14), friday) == "已逾期 1 个工作日"  # the Monday after
    assert due_label(dt.date(2026, 12, 12), friday) == "已过截止日"  # the Saturday after


def test_an_assignment_past_its_deadline_says_so_on_its_page(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    from rounds.models import Assignment

    base, code, team = _first_assignment(live)
    with Session(engine) as s:
        for a in s.exec(select(Assignment).where(Assignment.credit_code == code)):
            a.due_on = dt.date(2026, 11, 2)  # a Monday long gone
            s.add(a)
        s.commit()
    with httpx.Client(base_url=base) as http:
        _, html = open_assignment(http, base, code, team[0])
    assert "已逾期" in html and "还有 0 个工作日" not in html


def test_a_refused_form_says_what_is_wrong_in_chinese(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    """The findings' checks speak English to the API; the page says each refusal in Chinese,
    naming the field."""
    base, code, team = _first_assignment(live)
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        csrf = csrf_of(html)
        cases = [
            ({"result": "", "check_date": ""}, ["检查结果：请从列表中选择",
                                                "检查日期：应为日期"]),
            ({"result": "ordered_to_rectify"}, ["请选择处理措施"]),
            ({"description": "从Word粘贴\u000b的"}, ["含有不可见的控制字符（U+000B"]),
            ({"description": "已整改\u202e完毕"}, ["含有不可见字符（U+202E"]),
            ({"check_date": "2099-01-01"}, ["晚于今天"]),
        ]  # fmt: skip
        for change, said in cases:
            r = http.post(path, data={"csrf": csrf, **FORM, **change, "action": "submit"})
            assert r.status_code == 422, (change, r.text[:300])
            errors = r.text.split('id="errors"', 1)[1].split("</section>", 1)[0]
            for words in said:
                assert words in errors, (change, words, errors)
            assert "Input should" not in errors and "Value error" not in errors
            assert "（finding）" not in errors  # a rule between fields names no field of its own
    assert _versions(engine) == 0


def test_a_version_that_came_first_and_a_coordinators_version_are_said_in_chinese(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    """A teammate's version submitted while this page was open: the refusal (409) says so in
    Chinese and the text stays as a draft; a version the coordinator recorded shows as 协调员."""
    from findings import service
    from findings.schemas import FindingIn

    base, code, team = _first_assignment(live)
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])  # read with no version yet
        service.submit(engine, round_key=ROUND, credit_code=code,
                       data=FindingIn.model_validate({**FORM, "description": "协调员录入"}),
                       submitted_by="coordinator:林科长", signers=[team[1]])  # fmt: skip
        late = http.post(path, data={"csrf": csrf_of(html), **FORM, "base_version": "0",
                                     "description": "我的记录", "action": "submit"})  # fmt: skip
        assert late.status_code == 409, late.text[:300]
        assert "已不是最新" in late.text and "is superseded" not in late.text
        assert "我的记录" in late.text, "what was typed stays (as the draft)"
        assert "第 1 版由 协调员 林科长" in late.text
