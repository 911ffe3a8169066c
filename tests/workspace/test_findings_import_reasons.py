"""Every reason the findings importer can give, for a row, a column or the whole file, is said
in Chinese on the round's import page (``workspace.import_reasons``); the importer keeps its
English for the CLI and the API.

The reasons are found in the source, not copied here: from ``findings.importer.import_file``,
every function and pydantic model it names in ``findings``, ``registry`` and ``shuangsui.text``
is read, transitively, and every text that becomes a reason is taken: an exception's message,
a ``RowProblem``'s reason, a sentence a checker returns or appends, a sentence handed to
another checker (the ``why`` of a superseded version). Each is filled in with ``7`` for every
value and must come out of the page with no English left. pydantic's own refusals are found
in the models' constraints. A real import of a file with every kind of bad row, on both
databases, shows the same from end to end. A new English reason fails here until the page
says it."""

from __future__ import annotations

import ast
import builtins
import inspect
import re
import sys
import textwrap
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import annotated_types
import pytest
import sqlalchemy as sa
from pydantic import BaseModel, ValidationError, WithJsonSchema

from findings import importer
from findings.schemas import CertificateOutcome, EvidenceRef, FindingIn, Measure, first_error
from registry import uscc
from shuangsui import clock
from shuangsui.errors import ImportRejected, RowProblem
from tests.findings.factories import ROUND, drawn_round, final_finding
from workspace.import_reasons import FIELDS, file_refusal, in_chinese

FOLLOWED = ("findings.", "registry.", "shuangsui.text")
# named by what the importer calls, but no reason about the upload: the bureau's own
# whitelist of credit codes ships with the code, and a broken one is the server's fault
NOT_THE_FILES = (uscc.load_whitelist,)
# ASCII the page may say: names of formats and standards (and a character's code, U+200B)
NAMES = {"CSV", "XLSX", "xlsx", "csv", "UTF", "GB", "GBK", "T", "Excel", "Unicode"}
CODE_POINT = re.compile(r"U\+[0-9A-F]{4,6}")
SHOWN = "上传.csv"
STORED = Path("/srv/tmp/upload.csv")


def _english(text: str, *quoted: str) -> list[str]:
    """The English words in ``text``, once the values quoted from the file are taken out."""
    for value in sorted(quoted, key=len, reverse=True):
        text = text.replace(value, "")
    text = CODE_POINT.sub("", text)
    return [w for w in re.findall(r"[A-Za-z]+", text) if w not in NAMES]


# ------------------------------------------------------------------ the reasons in the source
def _followed(obj: object) -> bool:
    module = getattr(obj, "__module__", None) or ""
    if not module.startswith(FOLLOWED) or any(obj is x for x in NOT_THE_FILES):
        return False
    return inspect.isfunction(obj) or (isinstance(obj, type) and issubclass(obj, BaseModel))


def _resolve(node: ast.AST, scope: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return scope.get(node.id, getattr(builtins, node.id, None))
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, scope)
        return None if base is None else getattr(base, node.attr, None)
    return None


def _filled(node: ast.AST) -> str | None:
    """A string or f-string with every value ``7`` (``'7'`` where it is quoted by ``!r``)."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        return "".join(
            str(v.value) if isinstance(v, ast.Constant)
            else "'7'" if isinstance(v, ast.FormattedValue) and v.conversion == ord("r")
            else "7"
            for v in node.values
        )  # fmt: skip
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _filled(node.left), _filled(node.right)
        return None if left is None or right is None else left + right
    return None


def _returned(node: ast.Return) -> list[ast.AST]:
    value = node.value
    if value is None:
        return []
    if isinstance(value, ast.List | ast.Tuple):
        return [value, *value.elts]
    if isinstance(value, ast.BoolOp):
        return [value, *value.values]
    if isinstance(value, ast.IfExp):
        return [value, value.body, value.orelse]
    return [value]


def _reasons_in(obj: Any, found: dict[str, str]) -> Iterator[Any]:
    """Add the reasons ``obj``'s source gives to ``found`` (reason -> where); yield what it
    names that is to be read too."""
    scope = sys.modules[obj.__module__].__dict__
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    where = f"{obj.__module__}.{obj.__qualname__}"
    assigned: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(node.value)

    def take(node: ast.AST, sentence: bool) -> None:
        text = _filled(node)
        if text is not None and (not sentence or " " in text):
            found.setdefault(text, where)

    for node in ast.walk(tree):
        if isinstance(node, ast.Name | ast.Attribute):
            named = _resolve(node, scope)
            if _followed(named):
                yield named
        if isinstance(node, ast.Return):
            for part in _returned(node):
                take(part, sentence=True)
        if not isinstance(node, ast.Call):
            continue
        callee = _resolve(node.func, scope)
        if isinstance(callee, type) and issubclass(callee, BaseException) and node.args:
            take(node.args[0], sentence=False)  # an exception's message
        elif callee is RowProblem:
            reason = node.args[3] if len(node.args) > 3 else node.keywords[0].value
            for value in assigned.get(reason.id, []) if isinstance(reason, ast.Name) else [reason]:
                take(value, sentence=False)
        elif isinstance(node.func, ast.Attribute) and node.func.attr == "append":
            for arg in node.args:
                take(arg, sentence=True)  # a checker's list of problems
        elif _followed(callee):
            for arg in node.args:
                take(arg, sentence=True)  # a sentence handed on (superseded's ``why``)


def importer_reasons() -> dict[str, str]:
    """Every reason the importer can give, filled in: reason -> the function that words it."""
    found: dict[str, str] = {}
    todo: list[Any] = [importer.import_file]
    read: list[Any] = []
    while todo:
        obj = todo.pop()
        if not any(obj is r for r in read):
            read.append(obj)
            todo.extend(_reasons_in(obj, found))
    return found


def _on_the_page(reason: str) -> tuple[str, str]:
    """(column, what the page says) for a reason as the importer gives it: a row's problem
    (``field: why`` from a checker is split as the importer splits it), else the whole
    file's refusal."""
    field, sep, why = reason.partition(": ")
    if not (sep and field in FIELDS):
        field, why = "result", reason
    said = in_chinese(RowProblem(SHOWN, 2, field, why))
    if said.reason != why:
        return said.column, said.reason
    return "", file_refusal(reason, STORED, SHOWN)


def test_the_source_is_read_whole() -> None:
    """The reader finds what it must (so the test below cannot pass on nothing)."""
    found = importer_reasons()
    assert len(found) >= 45, found
    assert found["required"] == "findings.importer.import_file"
    assert found["7 cells, the header has 7"] == "findings.importer.import_file"
    assert found["must be 18 characters, got 7"] == "registry.uscc.problem"
    assert found["a certificate is listed twice"] == "findings.schemas.FindingIn"
    assert found["contains 7; retype the value without it"] == "shuangsui.text._refused"
    said = "7: neither UTF-8 nor GB18030/GBK text: not UTF-8 from 7, not GB18030 from 7"
    assert found[said] == "registry.io.not_text"
    assert "a version exists already (a correction is a new version and needs a reason)" in found
    assert found["not a real date: '7'"] == "registry.validate.parse_date"


@pytest.mark.parametrize("reason", sorted(importer_reasons()))
def test_every_reason_the_importer_gives_is_said_in_chinese(reason: str) -> None:
    column, said = _on_the_page(reason)
    assert _english(said) == [], f"{importer_reasons()[reason]}: {reason!r} -> {said!r}"
    assert _english(column) == [], column


# ------------------------------------------------------------------ pydantic's own refusals
FINDING = {"result": "no_problem", "check_date": "2026-12-10"}


def _good_items() -> dict[type[BaseModel], dict[str, Any]]:
    """A good item of each list of a finding."""

    return {
        CertificateOutcome: {"body": "CQC", "number": "1", "action": "kept"},
        Measure: {"kind": "rectify_now"},
        EvidenceRef: {"sha256": "0" * 64},
    }


def _breaking(meta: object, annotation: Any, good: Any) -> Any:
    """A value the constraint ``meta`` refuses."""
    if isinstance(meta, annotated_types.MaxLen):
        return [good] * (meta.max_length + 1) if good is not None else "长" * (meta.max_length + 1)
    if isinstance(meta, annotated_types.MinLen):
        return "长" * (meta.min_length - 1)
    if getattr(meta, "pattern", None):
        return "不是"
    if getattr(meta, "func", None) is clock.day_as_written:  # a day written YYYY-MM-DD
        return "20261210"
    raise AssertionError(f"a constraint this test cannot break yet: {meta!r} on {annotation}")


def limits() -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, a finding) for each constraint of a finding's fields and of its lists' items,
    the finding breaking it."""
    items = _good_items()
    for name, field in FindingIn.model_fields.items():
        args = typing.get_args(field.annotation)
        model = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
        assert model is None or model in items, f"a good {model} for this test to use"
        good = items[model] if model else None
        for meta in field.metadata:
            if isinstance(meta, WithJsonSchema):  # how the API's schema shows it, no constraint
                continue
            yield f"{name} {meta}", {**FINDING, name: _breaking(meta, field.annotation, good)}
        if model is None:
            continue
        for inner, f in model.model_fields.items():
            for meta in f.metadata:
                broken = {**items[model], inner: _breaking(meta, f.annotation, None)}
                yield f"{name}.{inner} {meta}", {**FINDING, name: [broken]}


@pytest.mark.parametrize(("where", "data"), list(limits()))
def test_every_limit_of_a_finding_is_said_in_chinese(where: str, data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as exc:
        FindingIn.model_validate(data)
    for field, reason in first_error(exc.value):
        said = in_chinese(RowProblem(SHOWN, 2, field, reason))
        assert _english(said.reason) == [], f"{where}: {reason!r} -> {said.reason!r}"
        assert _english(said.column) == [], f"{where}: {field!r} -> {said.column!r}"


# ------------------------------------------------------------------ a real import, end to end
HEADER = "轮次,统一社会信用代码,检查结果,检查日期,涉及证书,处理措施,情况说明,签字人员,原因"
RECTIFY = "发现问题，依法责令立即改正或者限期改正"


def _csv(path: Path, rows: list[list[str]]) -> Path:
    def cell(text: str) -> str:
        return '"' + text.replace('"', '""') + '"'

    lines = [HEADER] + [",".join(cell(c) for c in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _wrong_check_character(code: str) -> str:
    return code[:17] + ("0" if code[17] != "0" else "1")


def test_a_file_with_every_kind_of_bad_row_is_said_in_chinese_on_the_page(
    engine: sa.Engine, tmp_path: Path
) -> None:
    teams = drawn_round(engine)
    codes = sorted(teams)
    c0, c1, c2, c3, c4, c5 = codes[:6]
    sign = {code: "；".join(team) for code, team in teams.items()}

    def row(code: str, result: str = "未发现问题", day: str = "2026-12-10", certs: str = "",
            measures: str = "", text: str = "", signers: str = "", round_key: str = ROUND,
            ) -> list[str]:  # fmt: skip
        signers = signers or sign.get(code, "张三")
        return [round_key, code, result, day, certs, measures, text, signers, ""]

    rows = [
        row(c0, certs="CQC2026"),  # no BODY:NUMBER=ACTION
        row(c0, text="检查\x0b情况"),  # a control character pasted in
        row(c0, text="检查\u202e情况"),  # a direction override
        row(c0, text="长" * 4001),
        row(c0, result="暂停认证证书"),  # and no certificate suspended
        row(c0, result=RECTIFY, measures="责令限期改正"),  # and no deadline
        row(c0, certs="CQC:1=保持；CQC:1=暂停"),
        row(c0, measures="责令立即改正@2026-12-01"),  # before the check date
        row(c0, certs="CQC:=保持"),
        row(c0, day="2026-02-30"),
        row(c0, result="好"),
        [ROUND, c0, "未发现问题"],  # cut short
        row("91350100MA2Y"),
        row("350100000012345"),
        row(_wrong_check_character(c0)),
        row(c1, signers="张三；李四"),
        row(c2, certs="CQC:2026010000000001=保持"),
        row(c3, day="2027-01-05"),  # after today (2026-12-31)
        row(c4, day="2026-12-01"),  # before the round's window
        row(c5),
        row(c5),
        row(c5, round_key="ccc-2027-01"),
    ]
    path = _csv(tmp_path / "结果.csv", rows)
    with pytest.raises(ImportRejected) as exc:
        importer.import_file(engine, path, imported_by="李协调", only_round=ROUND)
    problems = exc.value.problems
    good = 21  # c5's first row; each other row has one problem
    assert [p.row for p in problems] == [n for n in range(2, len(rows) + 2) if n != good]
    quoted = [*codes, ROUND, "ccc-2027-01", "CQC", "91350100MA2Y", _wrong_check_character(c0),
              c0[17], *(i for team in teams.values() for i in team)]  # fmt: skip
    said = [in_chinese(p) for p in problems]
    for problem, page in zip(problems, said, strict=True):
        assert _english(page.reason, *quoted) == [], (problem, page)
        assert _english(page.column, *quoted) == [], (problem, page)

    def at(row_number: int) -> list[tuple[str, str]]:
        return [(p.column, p.reason) for p in said if p.row == row_number]

    with engine.connect() as conn:
        names = dict(conn.execute(sa.text("select inspector_id, name from inspector")).all())
    team = "、".join(f"{names[i]}（{i}）" for i in teams[c1])  # as the 检查组 column says it
    assert at(17) == [("签字人员", f"张三、李四 不是这家企业检查组的成员（检查组：{team}），"
                                 "请照抄“检查组”一列")]  # fmt: skip
    assert at(2) == [("涉及证书", "“CQC2026”不是证书的写法：请写成 认证机构代码:证书编号=处理"
                                 "（保持、暂停或撤销），几张证书用“；”隔开")]  # fmt: skip
    assert at(3) == [("情况说明", "含有看不见的控制字符 U+000B（多为从其他软件粘贴带入），"
                                 "请删去后重新填写这一格")]  # fmt: skip
    assert at(5) == [("情况说明", "过长：最多 4000 个字")]
    assert at(6) == [
        ("整行", "检查结果为“暂停认证证书”：请在“涉及证书”一列写明被暂停的证书（处理为“暂停”）")
    ]
    assert at(7) == [
        ("处理措施（第 1 项）", "责令限期改正须写明期限，写法如：责令限期改正@2027-01-15")
    ]
    assert at(9) == [("整行", "处理措施“责令立即改正”的期限早于检查日期")]
    assert at(10) == [("涉及证书（第 1 项）", "不能为空")]
    assert at(14) == [("统一社会信用代码", "应为 18 位，这里是 12 位")]
    assert at(18) == [("涉及证书", f"证书 CQC 2026010000000001 不是企业 {c2} 的证书")]


def test_a_changed_row_without_a_reason_is_said_in_chinese_on_the_page(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """A finding recorded already, and the file has it otherwise with no reason: the import
    would correct it, which needs a reason (``findings.service``'s superseded conflict)."""
    teams = drawn_round(engine)
    code, team = sorted(teams.items())[0]
    final_finding(engine, code, team)
    path = tmp_path / "更正.csv"
    path.write_text(
        "轮次,统一社会信用代码,检查结果,检查日期,签字人员\n"
        f"{ROUND},{code},其它情况,2026-12-10,{'；'.join(team)}\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportRejected) as exc:
        importer.import_file(engine, path, imported_by="李协调", only_round=ROUND)
    (problem,) = exc.value.problems
    assert "a version exists already" in problem.reason  # the CLI's and the API's English
    said = in_chinese(problem)
    assert (said.column, said.reason) == (
        "原因",
        "这家企业已有检查结果，导入的内容与之不同：这是一次更正，须在“原因”一列写明更正原因"
        "（现有最新的是第 1 版）",
    )
