"""The ad hoc round page speaks Chinese throughout: every refusal of its forms names the field
as the form labels it, and the preflight preview (``rounds.preflight``, whose ``describe`` keeps
its English for the CLI) is shown as tables and sentences in Chinese, its reasons to hold too.
Real server, real database."""

from __future__ import annotations

import datetime as dt
import html
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, update

from api import tokens
from api.app import create_app
from registry.models import Certificate, Enterprise, RegistryImport
from rounds import service
from rounds.holds import (
    Change,
    EmptyPopulation,
    FrameMoved,
    NeverImported,
    Refusal,
    RegistryStale,
    StratumAppears,
    StratumVanishes,
)
from rounds.models import RoundKind
from rounds.preflight import (
    ClassPreview,
    Preflight,
    StratumPreview,
    describe,
    refusals,
)
from shuangsui.clock import local_label
from shuangsui.config import get_settings
from tests.findings.factories import drawn_round
from tests.findings.live import serve
from tests.rounds.factories import NOW, credit_code, plan_yaml, plans_folder, seed_registry
from tests.workspace.helpers import csrf_of, sign_in
from workspace.adhoc import HELD, LABELS, percent, said, shown
from workspace.pages import env

FIELDS = ("plan", "reason", "rates", "total_cap", "divisions", "witnesses", "witness_digits")
# words of describe() and of refusals(): none may reach the page
ENGLISH = re.compile(
    r"\b(stratum|rate|random|targeted|excluded|expected|risk class|population|due|teams?|"
    r"estimate|feasible|visits|inspectors|qualified|cap|last comparable|round|frame|registry|"
    r"imported|enterprises?|appears|vanishes|plan|check item|overrides)\b",
    re.IGNORECASE,
)


def _section(page: str, ident: str) -> str:
    """The text of the element with id ``ident`` (tags dropped, entities read)."""
    found = re.search(rf'<(section|div|p|table)[^>]* id="{ident}"[^>]*>(.*?)</\1>', page, re.S)
    assert found, f"no #{ident} on the page"
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(2).replace("<wbr>", "")))


def _no_english(text: str, *allowed: str) -> None:
    """No English field name and no word of the preflight's English in ``text``, once the
    values typed or named (``allowed``) are taken out."""
    for value in allowed:
        text = text.replace(value, "")
    assert not any(re.search(rf"\b{name}\b", text) for name in FIELDS), text
    assert not ENGLISH.search(text), text


@contextmanager
def _coordinator(engine: sa.Engine, **app: object) -> Iterator[httpx.Client]:
    ssc = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine, **app)) as base:  # type: ignore[arg-type]
        # the real runner imports Prefect on its first call: seconds on a busy machine
        with httpx.Client(base_url=base, timeout=120) as http:
            assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
            yield http


def test_every_refusal_of_the_adhoc_form_names_its_field_as_the_form_labels_it(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codes = seed_registry(engine)
    listed = codes[0]  # in 350100 (the factory's first division)
    targeted = f"targeted:\n  list: [{{credit_code: '{listed}', reason: 投诉举报}}]"
    plans_folder(tmp_path, monkeypatch, files={
        "ccc.yaml": plan_yaml(),
        "listed.yaml": plan_yaml(plan_id="ccc-2026-12-t", extra=targeted),
    })  # fmt: skip
    started: list[dict[str, Any]] = []

    def runner(params: dict[str, Any]) -> dict[str, Any]:
        started.append(params)
        return {"mode": "test", "round_key": "x", "state": "running"}

    with _coordinator(engine, adhoc_runner=runner) as http:
        form = http.get("/w/c/adhoc")
        for name in ("plan", "reason", "rates", "total_cap", "divisions"):
            assert f'<label for="{name}">{LABELS[name]}' in form.text  # the label it is named by
        data = {"csrf": csrf_of(form.text), "plan": "ccc-2026-12", "reason": "投诉举报",
                "action": "preview"}  # fmt: skip
        cases = [
            ({"plan": ""}, "plan", "必填"),
            ({"reason": "  "}, "reason", "必填"),
            ({"plan": "no-such-plan"}, "plan", "没有可用的计划 no-such-plan"),
            ({"rates": "D=50"}, "rates", "'D=50' 应写成 类别=百分比"),
            ({"rates": "A=150%"}, "rates", "'A=150%' 超过 100%"),
            ({"rates": "A=1.2.3%"}, "rates", "'A=1.2.3%' 应写成 类别=百分比"),
            ({"rates": "D=50%"}, "rates", "D 类的 50% 低于计划规定的 100%；临时抽查只能提高"),
            ({"rates": "Z=50%"}, "rates", "计划中没有 Z 类的抽查比例"),
            ({"total_cap": "0"}, "total_cap", "应为正整数"),
            ({"total_cap": "²"}, "total_cap", "应为正整数"),
            ({"divisions": "350100, 35x"}, "divisions", "'35x' 应为 2、4 或 6 位行政区划代码"),
            ({"divisions": "310000"}, "divisions",
             "310000（上海市）不在本局辖区 350000（福建省）之内"),
            ({"divisions": "359900"}, "divisions", "359900 不是有效的行政区划代码"),
            ({"plan": "ccc-2026-12-t", "divisions": "350200"}, None,
             f"定向检查名单中的企业 {listed} 不在本轮抽查范围内：请核对{LABELS['divisions']}"),
        ]  # fmt: skip
        for change, field, said in cases:
            r = http.post("/w/c/adhoc", data={**data, **change})
            assert r.status_code == 422, (change, r.text[:300])
            errors = _section(r.text, "errors")
            expected = f"{LABELS[field]}：{said}" if field else said
            assert expected in errors, (change, errors)
            _no_english(errors, *change.values(), listed)
    assert started == []


def test_the_ceremony_refusals_name_the_fields_in_chinese(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Witnesses and digits left out or not digits, each refused before the runner. (The
    round's plan leaving the plans folder refuses nothing: the draw runner draws the round as
    committed, as a scheduled round's ceremony does.)"""
    plans = plans_folder(tmp_path, monkeypatch)
    seed_registry(engine)
    key = "ccc-2026-12-adhoc-1"
    service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                         round_key=key, requested_by="李协调", reason="投诉举报")  # fmt: skip
    with _coordinator(engine) as http:
        action = f"/w/c/rounds/{key}/ceremony"
        data = {"csrf": csrf_of(http.get(f"/w/c/rounds/{key}").text), "witnesses": "王五",
                "witness_digits": "271828"}  # fmt: skip
        cases = [
            ({"witness_digits": ""}, f"{LABELS['witness_digits']}：必填"),
            ({"witness_digits": "２７１８"}, f"{LABELS['witness_digits']}：只能是数字 0-9"),
            ({"witnesses": " , "}, f"{LABELS['witnesses']}：至少一名见证人"),
            ({"witnesses": "王五 \u202e林晓", "witness_digits": "2" * 26},
             f"{LABELS['witnesses']}：含有不可见字符（U+202E"),
        ]  # fmt: skip
        for change, said in cases:
            r = http.post(action, data={**data, **change})
            assert r.status_code == 422, (change, r.text[:300])
            assert r.headers["content-type"].startswith("text/html"), r.text[:300]
            text = html.unescape(re.sub(r"<[^>]+>", " ", r.text.split("<main", 1)[1]))
            assert said in text, (change, text)
            assert f'href="/w/c/rounds/{key}">继续' in r.text  # the form's page, not its POST
            assert str(plans) not in text
            _no_english(text, *change.values(), key, "ccc-2026-12")


def _new_stratum(engine: sa.Engine, count: int) -> None:
    """``count`` more CCC enterprises of risk class A in 350300, a division the factory leaves
    empty: a stratum the last round did not have."""
    rng = random.Random(2026)
    firms = [credit_code(rng, "350300") for _ in range(count)]
    with Session(engine) as s:
        for i, code in enumerate(firms):
            s.add(Enterprise(credit_code=code, name=f"莆田企业{i}", division_code="350300",
                             risk_class="A", updated_at=NOW))  # fmt: skip
        s.commit()
    with Session(engine) as s:
        for i, code in enumerate(firms):
            s.add(Certificate(body="CQC", number=f"2026030{i:09d}", kind="ccc", credit_code=code,
                              issued_on=dt.date(2025, 1, 1), expires_on=dt.date(2030, 1, 1),
                              updated_at=NOW))  # fmt: skip
        s.commit()


def test_the_preview_is_tables_and_sentences_in_chinese_with_its_reasons_to_hold(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Last month's round over 40 firms; since then 20 firms in a new stratum, and the
    registry not imported for 100 days: the preview holds for both, in Chinese."""
    plans_folder(tmp_path, monkeypatch)
    drawn_round(engine, enterprises=40)  # ccc-2026-12: its strata are known once drawn
    _new_stratum(engine, 20)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=100)
    with Session(engine) as s:
        s.exec(update(RegistryImport).values(at=long_ago))  # type: ignore[call-overload]
        s.commit()
    with _coordinator(engine, adhoc_runner=lambda p: {}) as http:
        data = {"csrf": csrf_of(http.get("/w/c/adhoc").text), "plan": "ccc-2026-12",
                "reason": "投诉举报", "action": "preview"}  # fmt: skip
        page = http.post("/w/c/adhoc", data=data).text
    assert 'value="start"' not in page  # held: no start offered
    held = _section(page, "held")
    assert "建议暂缓" in held
    assert "名录库已超过 35 天未导入（SHUANGSUI_REGISTRY_MAX_AGE_DAYS）" in held
    assert "抽查范围内有 60 家企业，与轮次 ccc-2026-12 的 40 家相差 50%（超过 25%" in held
    strata = _section(page, "strata")
    assert re.search(r"层级\s+抽查比例\s+随机可抽\s+定向\s+排除\s+预计抽取", strata)
    assert re.search(r"350300/A\s+10%\s+20\s+0\s+0\s+2", strata)  # the new stratum, its rate
    classes = _section(page, "classes")
    assert re.search(r"风险类别\s+对象数\s+定向\s+其中频次到期\s+排除\s+预计抽取", classes)
    assert "检查组（估算）：可以组成" in _section(page, "teams")
    last = _section(page, "last-round")
    assert "上一可比轮次 ccc-2026-12：抽查范围内企业 40 家；新增层级 350300/A" in last
    assert _section(page, "imported") == f"名录库最近导入：{local_label(long_ago)}。"
    preview = _section(page, "preview")
    assert "计划 ccc-2026-12（检查事项 CCC-01）：抽查范围内企业 60 家" in preview
    _no_english(
        preview,
        "ccc-2026-12",
        "CCC-01",
        "SHUANGSUI_REGISTRY_MAX_AGE_DAYS",
        "SHUANGSUI_FRAME_CHANGE_LIMIT",
    )


def _report(**changes: object) -> Preflight:
    base = dict(
        plan_id="ccc-2026-12", check_item="CCC-01",
        strata=(StratumPreview("350100/A", "1/200", 12, 3, 2, 1),
                StratumPreview("350100/D", "1", 4, 0, 0, 4)),
        inspectors=5, qualified=1, team_size=2, workload_cap=3,
        registry_imported_at=dt.datetime(2026, 11, 30, 18, 10, tzinfo=dt.UTC),
        last_round="ccc-2026-11", last_frame_size=42,
        changes=(StratumAppears("350100/D"), StratumVanishes("350200/B")),
        classes=(ClassPreview("A", 15, 3, 2, 2, Fraction(5, 4)),),
    )  # fmt: skip
    return Preflight(**{**base, **changes})  # type: ignore[arg-type]


def test_every_line_describe_can_print_has_its_chinese_rendering() -> None:
    """Each line and reason to hold that the CLI prints in English, in a preview rendered by
    the page's template: infeasible teams, a class's share, the frame's changes, the registry
    never imported or too old, an empty population, a frame that moved."""
    now = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    limits = {"now": now, "max_age_days": 35, "max_change": 0.25}
    reports = {
        "moved": _report(),
        "never": _report(strata=(), classes=(), registry_imported_at=None, changes=()),
        "old": _report(registry_imported_at=now - dt.timedelta(days=40), last_round=None,
                       last_frame_size=None, changes=()),
    }  # fmt: skip
    said = {}
    for name, report in reports.items():
        lines = describe(report)  # the English, unchanged, for the CLI
        assert lines[0].startswith(
            f"plan ccc-2026-12 (check item CCC-01): frame {report.frame_size}"
        )
        preview = shown(report, refusals(report, **limits))  # type: ignore[arg-type]
        page = env.get_template("adhoc.html").render(
            me="李协调", csrf="x", plans=[], notices=[], labels=LABELS, form={}, preview=preview
        )
        said[name] = _section(page, "preview")
        _no_english(
            said[name],
            "ccc-2026-12",
            "ccc-2026-11",
            "CCC-01",
            "350100/A",
            "350100/D",
            "350200/B",
            "SHUANGSUI_REGISTRY_MAX_AGE_DAYS",
            "SHUANGSUI_FRAME_CHANGE_LIMIT",
        )
    moved = said["moved"]
    assert re.search(r"350100/A\s+0.5%\s+12\s+3\s+2\s+1", moved)
    assert re.search(r"350100/D\s+100%\s+4\s+0\s+0\s+4", moved)
    assert re.search(r"\bA\s+15\s+3\s+2\s+2\s+≈4.2\b", moved)  # 5/4 random + 3 targeted
    assert "检查组（估算）： 可能无法组成 。预计需 16 人次检查（8 家 × 每组 2 人）" in moved
    assert "5 名执法检查人员中 1 名符合条件，每人最多 3 家，合计可承担 3 人次" in moved
    assert (
        "上一可比轮次 ccc-2026-11：抽查范围内企业 42 家；新增层级 350100/D；层级 350200/B 已不存在"
    ) in moved
    assert "名录库最近导入：2026-12-01 02:10 北京时间" in moved
    assert "抽查范围内有 21 家企业，与轮次 ccc-2026-11 的 42 家相差 50%（超过 25%" in moved
    never = said["never"]
    assert "抽查范围为空：名录库中没有符合计划 ccc-2026-12 的企业" in never
    assert "名录库从未导入" in never and "无：抽查范围内没有企业" in never
    assert "抽查范围内有 0 家企业，与轮次 ccc-2026-11 的 42 家相差 100%" in never
    old = said["old"]
    assert "名录库已超过 35 天未导入（SHUANGSUI_REGISTRY_MAX_AGE_DAYS）" in old
    assert "名录库最近导入：2026-10-26 08:00 北京时间" in old
    assert "本检查事项此前没有可供比较的轮次" in old


def test_every_kind_of_reason_to_hold_and_of_change_has_its_chinese_sentence() -> None:
    """The page says a reason by its kind, from its values: a kind added to rounds.preflight
    without its sentence here fails this test, not the coordinator's page."""
    kinds = {*get_args(Refusal), *get_args(Change)}
    assert set(HELD) == kinds
    at = dt.datetime(2026, 10, 30, 18, 10, tzinfo=dt.UTC)
    expected: dict[Refusal | Change, str] = {
        EmptyPopulation("ccc-2026-12"):
            "抽查范围为空：名录库中没有符合计划 ccc-2026-12 的企业"
            "（名录库是否已导入？行政区划和证书种类是否正确？）",
        NeverImported(): "名录库从未导入",
        RegistryStale(at, 35): "名录库已超过 35 天未导入（SHUANGSUI_REGISTRY_MAX_AGE_DAYS）",
        FrameMoved(frame_size=21, moved=0.5, last_size=42, last_round="ccc-2026-11",
                   limit=0.25):
            "抽查范围内有 21 家企业，与轮次 ccc-2026-11 的 42 家相差 50%"
            "（超过 25%，SHUANGSUI_FRAME_CHANGE_LIMIT）",
        StratumAppears("350100/D"): "新增层级 350100/D",
        StratumVanishes("350200/B"): "层级 350200/B 已不存在",
    }  # fmt: skip
    assert {type(reason) for reason in expected} == kinds
    for reason, sentence in expected.items():
        assert said(reason) == sentence
        _no_english(sentence, "ccc-2026-12", "ccc-2026-11", "350100/D", "350200/B",
                    "SHUANGSUI_REGISTRY_MAX_AGE_DAYS", "SHUANGSUI_FRAME_CHANGE_LIMIT")  # fmt: skip


def test_a_rate_is_shown_as_the_plan_writes_it() -> None:
    assert [percent(r) for r in ("1/10", "2/5", "1", "1/200", "0", "123/1000000")] == [
        "10%", "40%", "100%", "0.5%", "0%", "0.0123%"
    ]  # fmt: skip
