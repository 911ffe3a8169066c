"""The coordinator's workspace over real HTTP: sign-in by token, the month, a round's progress,
exports that open back in openpyxl, and an import template that round-trips."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from findings.importer import import_findings
from findings.service import history, submit
from registry.divisions import divisions
from rounds.models import AuditEvent
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, final_finding, finding
from tests.workspace.conftest import coordinator_live as live  # noqa: F401  (for tests/joint)
from tests.workspace.helpers import (
    dead_letter,
    delivered_round,
    final_and_waiting,
    outbox_link,
    record_equivocation,
    sign_in,
)


def _signed_in(http: httpx.Client, ssc: str) -> None:
    r = sign_in(http, f"/w/c/open?token={ssc}")
    assert r.status_code == 303 and r.headers["location"] == "/w/c/"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Path=/w/c" in cookie and ssc not in cookie


def test_round_page_shows_progress_and_who_must_sign(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, teams, ssc = coordinator_live
    done, _waiting = final_and_waiting(engine, teams)
    with httpx.Client(base_url=base) as http:
        assert http.get(f"/w/c/rounds/{ROUND}").status_code == 401  # no session yet
        _signed_in(http, ssc)
        month = http.get("/w/c/?period=2026-12")
        assert month.status_code == 200 and ROUND in month.text
        page = http.get(f"/w/c/rounds/{ROUND}")
    # the month says how far each round is, as the round's page counts it
    row = next(tr for tr in month.text.split("<tr")[1:] if f">{ROUND}</a>" in tr)
    progress = row.split('data-label="进度"', 1)[1].split("</td>", 1)[0]
    assert f"已完成 1 / {len(teams)} 家" in progress and "待签字 1 家" in progress
    assert page.status_code == 200 and 'lang="zh-CN"' in page.text
    assert f"已完成 1 / {len(teams)}" in page.text
    row = page.text.split(f'id="e-{done}"', 1)[1].split("</tr>", 1)[0]
    assert "已完成" in row and "未发现问题" in row
    queue = page.text.split('id="signoff-queue"', 1)[1].split("</section>", 1)[0]
    assert "待签字（1）" in queue and "签字" in queue
    assert "逾期（0）" in page.text
    # headed by the plan's title, as the month says it; each stratum names its division
    row_title = month.text.split(f">{ROUND}</a>", 1)[0].rsplit("<tr", 1)[1]
    title = row_title.split("<td>", 1)[1].split("<br>", 1)[0]
    assert title == "强制性产品认证获证产品一致性检查" and f"<h1>{title}</h1>" in page.text
    strata = page.text.split("<h2>分层抽取</h2>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>([^<]*)(?:<br><small>([^<]*)</small>)?</td>", strata)
    assert rows and all(name == divisions().name(s.split("/")[0]) != "" for s, name in rows)


def test_an_inspector_session_or_token_never_opens_coordinator_pages(
    coordinator_live: tuple[str, dict, str],
) -> None:
    base, teams, ssc = coordinator_live
    code, team = sorted(teams.items())[0]
    link = outbox_link(code, team[0], base)
    token = link.rsplit("token=", 1)[1]
    with httpx.Client(base_url=base) as http:
        assert sign_in(http, link).status_code == 303
        inspector_cookie = http.cookies.get("ssw_a")
        assert http.get(f"/w/c/open?token={token}").status_code == 403
        refused = http.post("/w/c/open", data={"token": token}, headers={"Origin": base})
        assert refused.status_code == 403 and "set-cookie" not in refused.headers
        r = httpx.get(f"{base}/w/c/", headers={"Cookie": f"ssw_c={inspector_cookie}"})
        assert r.status_code == 401
    with httpx.Client(base_url=base) as http:
        _signed_in(http, ssc)
        coordinator_cookie = http.cookies.get("ssw_c")
    # a coordinator session is not an inspector's: it opens no assignment page
    r = httpx.get(f"{base}/w/a/{ROUND}/{code}", headers={"Cookie": f"ssw_a={coordinator_cookie}"})
    assert r.status_code == 401


def test_a_revoked_coordinator_token_ends_the_session(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, _teams, ssc = coordinator_live
    with httpx.Client(base_url=base) as http:
        _signed_in(http, ssc)
        assert http.get("/w/c/").status_code == 200
        tokens.revoke(engine, "李协调")
        assert http.get("/w/c/").status_code == 401


def test_exports_open_in_openpyxl_and_the_template_round_trips(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, tmp_path: Path
) -> None:
    base, teams, ssc = coordinator_live
    with httpx.Client(base_url=base) as http:
        _signed_in(http, ssc)
        sheets = {}
        for what in ("assignments", "findings", "template"):
            r = http.get(f"/w/c/rounds/{ROUND}/{what}.xlsx")
            assert r.status_code == 200, r.text
            path = tmp_path / f"{what}.xlsx"
            path.write_bytes(r.content)
            sheets[what] = path
        assignments_csv = http.get(f"/w/c/rounds/{ROUND}/assignments.csv")
        # a HEAD (a link checker's) answers as the GET, without the file, and records no
        # download: four GETs, four ExportDownloaded
        head = http.head(f"/w/c/rounds/{ROUND}/findings.xlsx")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-disposition"].startswith("attachment")
    with Session(engine) as s:
        downloaded = s.exec(select(AuditEvent).where(AuditEvent.event == "ExportDownloaded"))
        said = [json.loads(e.payload) for e in downloaded]
    assert [(d["what"], d["file_format"]) for d in said] == [
        ("assignments", "xlsx"), ("findings", "xlsx"), ("template", "xlsx"),
        ("assignments", "csv"),
    ]  # fmt: skip
    wb = openpyxl.load_workbook(sheets["assignments"])
    rows = list(wb.active.iter_rows(values_only=True))  # type: ignore[union-attr]
    wb.close()
    assert rows[0][:3] == ("轮次", "统一社会信用代码", "企业名称")
    assert len(rows) - 1 == sum(len(t) for t in teams.values())
    read = list(csv.reader(io.StringIO(assignments_csv.content.decode("utf-8-sig"))))
    assert [["" if c is None else str(c) for c in r] for r in rows[1:]] == read[1:]
    # the template, filled in as the paper forms say, imports
    wb = openpyxl.load_workbook(sheets["template"])
    ws = wb.active
    header = [c.value for c in ws[1]]  # type: ignore[index]
    for row in ws.iter_rows(min_row=2):  # type: ignore[union-attr]
        code = row[1].value
        row[header.index("检查结果")].value = "未发现问题"
        row[header.index("检查日期")].value = "2026-12-10"
        row[header.index("签字人员")].value = "；".join(teams[code])
    filled = tmp_path / "filled.xlsx"
    wb.save(filled)
    wb.close()
    assert import_findings(engine, filled, imported_by="李协调") == len(teams)
    code = sorted(teams)[0]
    assert history(engine, ROUND, code).public is not None


def test_dead_letters_are_retried_from_the_round_page_with_csrf(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    import re

    from sqlmodel import Session, select

    from notifications.models import Notification, NotificationStatus
    from rounds.models import AuditEvent

    base, _teams, ssc = coordinator_live
    dead_id = dead_letter(engine)
    with httpx.Client(base_url=base) as http:
        _signed_in(http, ssc)
        page = http.get(f"/w/c/rounds/{ROUND}")
        assert "1 条通知投递失败" in page.text
        action = f"/w/c/rounds/{ROUND}/retry-dead"
        assert http.post(action, data={}).status_code == 403
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        r = http.post(action, data={"csrf": csrf.group(1)})
        assert r.status_code == 303 and r.headers["location"].endswith("requeued=1")
    with Session(engine) as s:
        assert s.get(Notification, dead_id).status == NotificationStatus.pending  # type: ignore[union-attr]
        events = s.exec(select(AuditEvent.event).where(AuditEvent.round_key == ROUND)).all()
    assert "DeadLettersRequeued" in events


def test_partners_page_shows_each_partners_sync_and_fault(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    import datetime as dt

    from sqlmodel import Session

    from exchange.models import PartnerState
    from tests.exchange.test_crypto import _key

    base, _teams, ssc = coordinator_live
    (get_settings().home / "partners.toml").write_text(
        f'[[partner]]\ncode = "310000"\nname = "上海市认证执法局"\ndivision = "310000"\n'
        f'base_url = "http://127.0.0.1:8310/"\nkeys = ["{_key().public.text}"]\n',
        encoding="utf-8",
    )
    with Session(engine) as s:
        at = dt.datetime(2026, 11, 30, 18, 10, tzinfo=dt.UTC)
        said = {"state": "advertised", "reads": ["correction", "result"],
                "read_at": "2026-11-30T18:11:00Z", "keeps_unknown_kinds": True,
                "signed_at": "2026-11-30T18:10:58Z", "document": {}}  # fmt: skip
        s.add(PartnerState(partner_code="310000", size=42, status="failed",
                           last_error="connection refused", last_success_at=at,
                           about=said))  # fmt: skip
        s.commit()
    with httpx.Client(base_url=base) as http:
        _signed_in(http, ssc)
        page = http.get("/w/c/partners")
    row = page.text.split('id="p-310000"', 1)[1].split("</tr>", 1)[0]
    assert "上海市认证执法局" in row and "同步失败" in row and "42" in row
    assert "2026-12-01 02:10 北京时间" in row and "connection refused" in row
    # what it said of the kinds it reads, taken when, in the bureau's time as every time here
    kinds = row.split('class="kinds">', 1)[1].split("</small>", 1)[0]
    assert kinds == ("读取 correction、result；其他类型的条目保存、不采用（声明取得于 "
                     "2026-12-01 02:11 北京时间；已超过 48 小时，不再作数：同步取得新的声明之前，"
                     "不向其写入前六种以外类型的条目）")  # fmt: skip


def test_this_month_lists_each_plan_with_its_state(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.rounds.factories import plan_yaml, plans_folder
    from workspace.overview import Progress, month

    plans_folder(tmp_path, monkeypatch, files={
        "a.yaml": plan_yaml(),
        "b.yaml": plan_yaml(plan_id="ccc-2026-12-b"),
        "c.yaml": plan_yaml(plan_id="ccc-2027-01", period="2027-01"),
    })  # fmt: skip
    teams = delivered_round(engine, monkeypatch)

    def states() -> dict[str, str]:
        return {p.plan_id: p.label for p in month(engine, get_settings(), "2026-12")[1]}

    def progress() -> dict[str, Progress | None]:
        return {p.plan_id: p.progress for p in month(engine, get_settings(), "2026-12")[1]}

    assert states() == {"ccc-2026-12": "通知已送达", "ccc-2026-12-b": "未提交"}
    assert progress() == {"ccc-2026-12": Progress(len(teams), 0, 0, 0), "ccc-2026-12-b": None}
    (code, team), (waiting, waiting_team), (behind, _), *_ = sorted(teams.items())
    final_finding(engine, code, team)
    assert states()["ccc-2026-12"] == "检查结果填报中"
    assert progress()["ccc-2026-12"] == Progress(len(teams), 1, 0, 0)
    submit(engine, round_key=ROUND, credit_code=waiting, data=finding(),
           submitted_by=f"inspector:{waiting_team[0]}", signers=[waiting_team[0]])  # fmt: skip
    assert progress()["ccc-2026-12"] == Progress(len(teams), 1, 1, 0)
    # one check past its deadline (the report's today is the bureau's real one)
    past = dt.datetime.now(ZoneInfo(get_settings().timezone)).date() - dt.timedelta(days=10)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE assignment SET due_on = :d WHERE credit_code = :c"),
                     {"d": past, "c": behind})  # fmt: skip
    assert progress()["ccc-2026-12"] == Progress(len(teams), 1, 1, 1)
    assert states()["ccc-2026-12"] == "已逾期"


def test_partners_page_shows_witnesses_and_equivocation_evidence(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    base, _teams, ssc = coordinator_live
    notes = record_equivocation(engine, partners_head="witness_quorum = 2\n")
    with httpx.Client(base_url=base) as http:
        _signed_in(http, ssc)
        page = http.get("/w/c/partners").text
    row = page.split('id="p-310000"', 1)[1].split("</tr>", 1)[0]
    assert "双重检查点（分叉）" in row and "双重检查点！" in row and "历史被改写" not in row
    evidence = page.split('id="equivocations"', 1)[1].split("</section>", 1)[0]
    assert "shuangsui.310000" in evidence and "大小 7" in evidence
    assert notes[0][0].split("\n\n")[0] in evidence  # the signed checkpoints themselves
    assert "须有 2 个见证副署" in page and "尚无伙伴副署" in page
