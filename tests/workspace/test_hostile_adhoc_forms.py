"""The ad hoc page and the 摇号仪式 form sent as no page of ours sends them, over real HTTP:
a field as a file (its Python description, ``UploadFile(filename=…)``, was taken as the
round's reason, and would have been split into the ceremony's witnesses), a field twice (the
last was taken), a reason with an invisible character (shown reversed with the round's
title). Each is refused naming the field by its label, and nothing is started or drawn."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api import tokens
from api.app import create_app
from rounds import service
from rounds.models import RoundKind
from shuangsui.config import get_settings
from tests.findings.live import serve
from tests.rounds.factories import plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import csrf_of, sign_in

A_FILE = ("说明.txt", "投诉举报".encode(), "text/plain")
KEY = "ccc-2026-12-adhoc-1"


class Desk:
    def __init__(self, http: httpx.Client, started: list[dict[str, Any]]):
        self.http, self.started = http, started


@pytest.fixture
def desk(engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Desk]:
    """A registry, a plans folder, a committed ad hoc round waiting for its ceremony, and a
    signed-in coordinator's client of the app, whose runners record what they were asked."""
    plans_folder(tmp_path, monkeypatch)
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                         round_key=KEY, requested_by="李协调", reason="投诉举报")  # fmt: skip
    token = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    started: list[dict[str, Any]] = []

    def runner(params: dict[str, Any]) -> dict[str, Any]:
        started.append(params)
        return {"mode": "test", "round_key": "adhoc-x", "state": "running"}

    app = create_app(engine=engine, adhoc_runner=runner, draw_runner=runner)
    with serve(app) as base, httpx.Client(base_url=base) as http:
        assert sign_in(http, f"/w/c/open?token={token}").status_code == 303
        yield Desk(http, started)


def _text(page: httpx.Response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))


def _adhoc(desk: Desk) -> dict[str, str]:
    form = desk.http.get("/w/c/adhoc")
    return {"csrf": csrf_of(form.text), "plan": "ccc-2026-12", "reason": "投诉举报",
            "total_cap": "5", "action": "preview"}  # fmt: skip


def _urlencoded(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """A form body with a field more than once, as a script sends it."""
    body = str(httpx.QueryParams(pairs)).encode()
    return {"content": body, "headers": {"Content-Type": "application/x-www-form-urlencoded"}}


@pytest.mark.parametrize(("field", "label"), [("reason", "原因"), ("divisions", "限定行政区划")])
def test_an_adhoc_field_as_a_file_is_refused_naming_it(desk: Desk, field: str, label: str) -> None:
    data = _adhoc(desk)
    data.pop(field, None)
    r = desk.http.post("/w/c/adhoc", data=data, files={field: A_FILE})
    assert r.status_code == 422, r.text[:300]
    assert f"{label}：应为文字，不能是文件" in _text(r)
    assert "UploadFile" not in r.text and "提交并开始" not in r.text  # no preview offered
    assert desk.started == []


def test_an_adhoc_field_twice_and_a_reason_with_a_direction_mark_are_refused(desk: Desk) -> None:
    data = _adhoc(desk)
    twice = desk.http.post("/w/c/adhoc", **_urlencoded([*data.items(), ("total_cap", "500")]))
    assert twice.status_code == 422 and "抽取总数上限：表单中填写了不止一次" in _text(twice)
    marked = desk.http.post("/w/c/adhoc", data=data | {"reason": "复查\u202e21-6202 号投诉"})
    assert marked.status_code == 422
    assert "原因：含有不可见字符（U+202E" in _text(marked) and "提交并开始" not in marked.text
    fine = desk.http.post("/w/c/adhoc", data=data)  # the same form as the page sends it
    assert fine.status_code == 200 and "提交并开始" in fine.text
    assert desk.started == []


def test_the_ceremonys_fields_as_a_file_or_twice_draw_nothing(desk: Desk) -> None:
    page = desk.http.get(f"/w/c/rounds/{KEY}")
    data = {"csrf": csrf_of(page.text), "witness_digits": "27182818284590452353"}
    action = f"/w/c/rounds/{KEY}/ceremony"
    as_file = desk.http.post(action, data=data, files={"witnesses": A_FILE})
    assert as_file.status_code == 422, as_file.text[:300]
    assert "见证人：应为文字，不能是文件" in _text(as_file) and "UploadFile" not in as_file.text
    pairs = [*data.items(), ("witnesses", "王五"), ("witness_digits", "11111111111111111111")]
    twice = desk.http.post(action, **_urlencoded(pairs))
    assert twice.status_code == 422
    assert "见证人产生的数字：表单中填写了不止一次" in _text(twice)
    assert f'href="/w/c/rounds/{KEY}">继续' in twice.text
    assert desk.started == []
    # as the read-back page sends it (tests/workspace/test_ceremony_read_back.py)
    drawn = desk.http.post(action, data=data | {"witnesses": "王五", "confirmed": "1"})
    assert drawn.status_code == 303
    assert [p["witnesses"] for p in desk.started] == [["王五"]]


def test_a_reason_longer_than_the_api_takes_is_refused_on_the_page(desk: Desk) -> None:
    """The page started a round with a reason of any length (the API refuses past 1,000): it is
    audited and published in the round's bundle. Now the preview and the start refuse it."""
    data = _adhoc(desk)
    assert 'name="reason" type="text" value="" maxlength="1000"' in desk.http.get("/w/c/adhoc").text
    long = "复查" + "投" * 999  # 1,001 characters
    preview = desk.http.post("/w/c/adhoc", data=data | {"reason": long})
    found = re.search(r'name="start_key" value="([0-9a-f]{32})"', preview.text)
    assert found, preview.text[:300]
    start = data | {"reason": long, "action": "start", "start_key": found.group(1)}
    for r in (preview, desk.http.post("/w/c/adhoc", data=start)):
        assert r.status_code == 422, r.text[:300]
        assert "原因：过长，最多 1000 个字（现为 1001 个字）" in _text(r)
        assert "提交并开始" not in r.text
    fine = desk.http.post("/w/c/adhoc", data=data | {"reason": long[:1000]})
    assert fine.status_code == 200 and "提交并开始" in fine.text
    assert desk.started == []
