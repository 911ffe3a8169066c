"""The coordinator imports a round's findings from its page, over real HTTP: the round's template
filled in (signers copied from its team column, or by name), every problem named by row and
column in Chinese with nothing written, and the hostile uploads (no CSRF, a `../` name, another
kind of file, a body past the limit, an XLSX that inflates to a flood, more rows than the
round drew) refused, writing nothing."""

from __future__ import annotations

import http.client
import io
import json
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import openpyxl
import pytest
import sqlalchemy as sa

from api import tokens
from findings.importer import import_file
from tests.browser import PHONE, headless, phone
from tests.findings.factories import ROUND
from tests.workspace.helpers import coordinator_client, csrf_of, delivered_round, sign_in_page
from workspace.imports import MAX_BYTES, MAX_INFLATED

IMPORT = f"/w/c/rounds/{ROUND}/import"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _template(http: httpx.Client) -> openpyxl.Workbook:
    r = http.get(f"/w/c/rounds/{ROUND}/template.xlsx")
    assert r.status_code == 200
    return openpyxl.load_workbook(io.BytesIO(r.content))


def _fill(ws, row: int, **cells: str) -> None:  # type: ignore[no-untyped-def]
    header = [c.value for c in ws[1]]
    for name, value in cells.items():
        ws.cell(row=row, column=header.index(name) + 1, value=value)


def _bytes(wb: openpyxl.Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _post(http: httpx.Client, name: str, data: bytes, csrf: str) -> httpx.Response:
    return http.post(IMPORT, data={"csrf": csrf}, files={"file": (name, data, XLSX)})


def _declared(base: str, path: str, length: int) -> httpx.Response:
    """A POST declaring ``length`` bytes to ``path``, sending none (refused before reading)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", path, headers={"Content-Length": str(length)})
        answer = conn.getresponse()
        return httpx.Response(answer.status, content=answer.read())
    finally:
        conn.close()


def _versions(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("select count(*) from finding_version")).scalar_one())


def _imports(engine: sa.Engine) -> list[dict]:
    query = sa.text("select payload from audit_event where event = 'FindingsImported'")
    with engine.connect() as conn:
        return [p if isinstance(p, dict) else json.loads(p) for p in conn.execute(query).scalars()]


def test_the_rounds_template_filled_in_imports_from_its_page(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, teams, ssc = coordinator_live
    (first, first_team), (second, second_team), *_ = sorted(teams.items())
    with coordinator_client(base, ssc) as http:
        page = http.get(f"/w/c/rounds/{ROUND}").text
        assert f'action="/w/c/rounds/{ROUND}/import"' in page and 'type="file"' in page
        wb = _template(http)
        ws = wb.worksheets[0]
        header = [c.value for c in ws[1]]
        assert header[:4] == ["轮次", "统一社会信用代码", "企业名称", "检查组"]
        rows = {ws.cell(row=i, column=2).value: i for i in range(2, ws.max_row + 1)}
        assert set(rows) == set(teams)  # one row per drawn enterprise
        team_cell = ws.cell(row=rows[first], column=4).value
        assert all(f"（{i}）" in team_cell for i in first_team)
        # the first: its team column copied as the signers; the second: signed by name
        _fill(ws, rows[first], 检查结果="未发现问题", 检查日期="2026-12-10", 签字人员=team_cell)
        names = dict(
            part.rstrip("）").split("（")[::-1]
            for part in ws.cell(row=rows[second], column=4).value.split("、")
        )
        by_name = "；".join(names[i] for i in second_team)
        _fill(ws, rows[second], 检查结果="未发现问题", 检查日期="2026-12-11",
              情况说明="标志使用不规范", 签字人员=by_name)  # fmt: skip
        r = _post(http, "十二月结果.xlsx", _bytes(wb), csrf_of(page))
        assert r.status_code == 303, r.text
        assert r.headers["location"] == (
            f"/w/c/rounds/{ROUND}?imported=2&recorded=0&unfilled={len(teams) - 2}#import"
        )
        done = http.get(r.headers["location"])
        assert "已导入 2 条新的检查结果" in done.text and f"{len(teams) - 2} 行未填写" in done.text
        assert "已完成 2 / " in done.text  # both final: every member signed
        again = _post(http, "十二月结果.xlsx", _bytes(wb), csrf_of(page))
        assert again.headers["location"].startswith(f"/w/c/rounds/{ROUND}?imported=0&recorded=2&")
    assert _versions(engine) == 2
    imports = _imports(engine)
    assert [i["file"] for i in imports] == ["十二月结果.xlsx"] * 2
    assert imports[0]["imported_by"] == "李协调" and imports[0]["versions"] == 2


def test_every_problem_is_named_by_row_and_column_and_nothing_is_imported(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, teams, ssc = coordinator_live
    codes = sorted(teams)
    with coordinator_client(base, ssc) as http:
        page = http.get(f"/w/c/rounds/{ROUND}").text
        wb = _template(http)
        ws = wb.worksheets[0]
        good = {"检查结果": "未发现问题", "检查日期": "2026-12-10"}
        _fill(ws, 2, **good, 签字人员=ws.cell(row=2, column=4).value)  # a good row: not written
        _fill(ws, 3, **{**good, "检查日期": "2026-13-40"}, 签字人员="x")
        _fill(ws, 4, **{**good, "检查结果": "好"}, 签字人员="x")
        _fill(ws, 5, **good, 签字人员="张三")
        _fill(ws, 6, **good, 签字人员="x", 轮次="ccc-2027-01")
        _fill(ws, 7, 检查结果="未发现问题")  # the date and the signers missing
        r = _post(http, "结果.xlsx", _bytes(wb), csrf_of(page))
    assert r.status_code == 422
    text = r.text
    assert "文件 结果.xlsx 有 6 处问题，未导入任何内容" in text
    assert "第 3 行" in text and "“2026-13-40”不是有效的日期" in text
    assert "无法识别的值“好”；可填写：未发现问题" in text
    with engine.connect() as conn:
        names = dict(conn.execute(sa.text("select inspector_id, name from inspector")).all())
    team = "、".join(f"{names[i]}（{i}）" for i in teams[codes[3]])  # as the 检查组 column
    assert f"张三 不是这家企业检查组的成员（检查组：{team}）" in text
    assert "这一行属于轮次 ccc-2027-01，本页只导入轮次 ccc-2026-12" in text
    row7 = text.split("第 7 行", 1)[1]
    assert "检查日期" in row7 and "必须填写" in row7 and "签字人员" in row7
    assert _versions(engine) == 0 and _imports(engine) == []


def test_hostile_uploads_are_refused_and_write_nothing(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, tmp_path: Path
) -> None:
    base, teams, ssc = coordinator_live
    with coordinator_client(base, ssc) as http:
        page = http.get(f"/w/c/rounds/{ROUND}").text
        csrf = csrf_of(page)
        wb = _template(http)
        ws = wb.worksheets[0]
        _fill(ws, 2, 检查结果="未发现问题", 检查日期="2026-12-10",
              签字人员=ws.cell(row=2, column=4).value)  # fmt: skip
        filled = _bytes(wb)
        # no CSRF token: refused before the file is looked at
        r = http.post(IMPORT, files={"file": ("a.xlsx", filled, XLSX)})
        assert r.status_code == 403
        # a name that climbs out of a folder: named by its last part only, and written nowhere
        r = _post(http, "../../../etc/..\\结果\u202e.csv", b"\xff\xfe\x00bad", csrf)
        assert r.status_code == 422 and "etc" not in r.text and "/tmp" not in r.text
        assert "文件 结果.csv：是 UTF-16 编码的文本" in r.text  # its byte order mark says so
        # another kind of file
        r = _post(http, "结果.exe", filled, csrf)
        assert r.status_code == 422 and "只能导入 .xlsx 或 .csv 文件" in r.text
        # no file chosen
        r = http.post(IMPORT, data={"csrf": csrf})
        assert r.status_code == 422 and "请选择要导入的文件" in r.text
        # a body past the route's limit: the middleware's 413, the body unread; a file past
        # the default limit of a form (1 MiB) but under the route's is read, and judged
        assert _declared(base, IMPORT, MAX_BYTES + 1).status_code == 413
        head = "轮次,统一社会信用代码,检查结果,检查日期,签字人员\n".encode()
        r = _post(http, "big.csv", head + b"x,y,z,w,v\n" * 200_000, csrf)
        assert r.status_code == 422 and f"超过 {len(teams)} 行" in r.text
        # a workbook whose parts would inflate to a flood: refused before it is opened
        bomb = io.BytesIO()
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("xl/worksheets/sheet1.xml", b"<" * (MAX_INFLATED + 1))
        r = _post(http, "bomb.xlsx", bomb.getvalue(), csrf)
        assert r.status_code == 422 and "解压后超过 64 MB" in r.text
        # more rows than the round drew: refused at the first one past them
        extra = wb.worksheets[0]
        for i in range(len(teams) + 1):
            extra.append([ROUND, f"CODE{i}", "", "", "未发现问题", "2026-12-10"])
        r = _post(http, "多.xlsx", _bytes(wb), csrf)
        assert r.status_code == 422
        assert f"超过 {len(teams)} 行：本轮抽中 {len(teams)} 家企业" in r.text
        # a round that does not exist
        r = http.post("/w/c/rounds/nope/import", data={"csrf": csrf},
                      files={"file": ("a.xlsx", filled, XLSX)})  # fmt: skip
        assert r.status_code == 404
    assert _versions(engine) == 0 and _imports(engine) == []
    # a coordinator whose token is revoked: the session ends, nothing imported
    tokens.revoke(engine, "李协调")
    with httpx.Client(base_url=base, cookies=http.cookies) as late:
        r = late.post(IMPORT, data={"csrf": csrf}, files={"file": ("a.xlsx", filled, XLSX)})
    assert r.status_code == 401 and _versions(engine) == 0


def test_a_refusal_inside_the_imports_transaction_writes_nothing(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The check the page hands the import (the coordinator's token still current) runs in the
    import's own transaction: raising there leaves nothing, as a revocation would."""
    teams = delivered_round(engine, monkeypatch)
    code, team = sorted(teams.items())[0]
    path = tmp_path / "f.csv"
    path.write_text(
        "轮次,统一社会信用代码,检查结果,检查日期,签字人员\n"
        f"{ROUND},{code},未发现问题,2026-12-10,{';'.join(team)}\n",
        encoding="utf-8",
    )

    class Revoked(Exception):
        pass

    def refuse(session: object) -> None:
        raise Revoked

    with pytest.raises(Revoked):
        import_file(engine, path, imported_by="李协调", only_round=ROUND, allowed=refuse)
    assert _versions(engine) == 0
    done = import_file(engine, path, imported_by="李协调", only_round=ROUND, allowed=lambda s: None)
    assert (done.new, done.recorded, done.unfilled) == (1, 0, 0) and _versions(engine) == 1


@pytest.mark.slow
def test_on_a_phone_without_javascript_the_form_imports_and_the_problems_fit(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, tmp_path: Path
) -> None:
    base, teams, ssc = coordinator_live
    shots = tmp_path / "shots"
    shots.mkdir()
    with coordinator_client(base, ssc) as http:
        wb = _template(http)
    ws = wb.worksheets[0]
    _fill(ws, 2, 检查结果="未发现问题", 检查日期="2026-12-10", 签字人员="张三")
    bad = tmp_path / "结果.xlsx"
    bad.write_bytes(_bytes(wb))
    _fill(ws, 2, 签字人员=ws.cell(row=2, column=4).value)
    good = tmp_path / "改正后.xlsx"
    good.write_bytes(_bytes(wb))
    with headless() as browser:
        ctx = phone(browser, javascript=False)
        page = ctx.new_page()
        sign_in_page(page, f"{base}/w/c/open?token={ssc}")
        page.goto(f"{base}/w/c/rounds/{ROUND}#import")
        page.set_input_files("#import-file", str(bad))
        page.get_by_role("button", name="导入").click()
        page.wait_for_load_state()
        assert "张三 不是这家企业检查组的成员" in page.locator("#problems").inner_text()
        page.screenshot(path=str(shots / "1-problems.png"), full_page=True)
        page.set_input_files("#import-file", str(good))
        page.get_by_role("button", name="导入").click()
        page.wait_for_url(f"**/w/c/rounds/{ROUND}?imported=1*")
        assert "已导入 1 条新的检查结果" in page.locator("#imported").inner_text()
        page.screenshot(path=str(shots / "2-imported.png"), full_page=True)
        ctx.close()
        ctx = phone(browser, javascript=True)  # measuring needs the page's script engine
        page = ctx.new_page()
        sign_in_page(page, f"{base}/w/c/open?token={ssc}")
        page.goto(f"{base}/w/c/rounds/{ROUND}")
        page.set_input_files("#import-file", str(bad))
        page.get_by_role("button", name="导入").click()
        page.wait_for_load_state()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        ctx.close()
    assert _versions(engine) == 1
