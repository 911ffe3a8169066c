"""Files the bureau hands around: the assignment sheet (任务分配表), the findings, and the
findings import template, as XLSX and CSV through :mod:`shuangsui.spreadsheet` (the one writer
that neutralises formulas)."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from findings.categories import ACTION_LABELS, MEASURE_LABELS, RESULT_LABELS
from findings.importer import COLUMNS
from findings.models import Finding, FindingVersion
from findings.records import load_results
from registry.models import Enterprise, Inspector
from rounds.models import Assignment, Round
from shuangsui.spreadsheet import csv_writer, write_xlsx

ASSIGNMENT_HEADER = [
    "轮次",
    "统一社会信用代码",
    "企业名称",
    "地址",
    "检查人员",
    "组内角色",
    "结果截止",
]
FINDINGS_HEADER = [
    "轮次", "统一社会信用代码", "企业名称", "版本", "检查结果", "检查日期", "情况说明",
    "涉及证书", "处理措施", "签字人员", "状态",
]  # fmt: skip
# the import's own column names (findings.importer.COLUMNS), first alias each
TEMPLATE_FIELDS = list(COLUMNS)
TEMPLATE_HEADER = [COLUMNS[f][0] for f in TEMPLATE_FIELDS]


def assignment_rows(engine: sa.Engine, round_key: str) -> list[list[Any]]:
    """A row a seat: the columns of ``ASSIGNMENT_HEADER``, read as columns (a round may draw
    thousands of enterprises: an object a row made the export take seconds)."""
    a, e = Assignment.__table__.c, Enterprise.__table__.c  # type: ignore[attr-defined]
    i = Inspector.__table__.c  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(a.round_key, e.credit_code, e.name, e.address, i.name, i.inspector_id,
                      a.position, a.due_on)
            .join_from(Assignment, Enterprise, e.credit_code == a.credit_code)
            .join(Inspector, i.inspector_id == a.inspector_id)
            .where(a.round_key == round_key)
            .order_by(a.credit_code, a.position)
        ).all()  # fmt: skip
    return [
        [rk, code, name, address, f"{who}（{inspector_id}）", "组长" if position == 0 else "组员",
         due_on.isoformat()]
        for rk, code, name, address, who, inspector_id, position, due_on in rows
    ]  # fmt: skip


def findings_rows(engine: sa.Engine, round_key: str) -> list[list[Any]]:
    with engine.connect() as conn:
        records = load_results(conn, [round_key])
    with Session(engine) as db:
        names = dict(
            db.exec(
                select(Enterprise.credit_code, Enterprise.name).where(
                    col(Enterprise.credit_code).in_([r.credit_code for r in records])
                )
            ).all()
        )
    out = []
    for rec in records:
        for v in rec.versions:
            certs = "；".join(
                f"{c['body']} {c['number']} {ACTION_LABELS.get(c['action'], c['action'])}"  # type: ignore[call-overload]
                for c in v.certificates
            )
            measures = "；".join(
                MEASURE_LABELS.get(m["kind"], m["kind"])  # type: ignore[call-overload]
                + (f" {m['deadline']}" if m.get("deadline") else "")
                for m in v.measures
            )
            state = "已完成" if v.state.final else "待 " + "、".join(v.state.missing) + " 签字"
            out.append(
                [
                    rec.round_key,
                    rec.credit_code,
                    names.get(rec.credit_code, ""),
                    v.version,
                    RESULT_LABELS.get(v.result, v.result),  # type: ignore[call-overload]
                    v.check_date.isoformat(),
                    v.description,
                    certs,
                    measures,
                    "、".join(v.state.signed_by),
                    state,
                ]  # fmt: skip
            )
    return out


def template_rows(engine: sa.Engine, round_key: str) -> list[list[Any]]:
    """One row per enterprise of the round: its keys, its name and its team (for the person
    filling it in; the import reads neither) filled, the rest for the paper form, and last the
    enterprise's latest version now (0: none), which the import holds the row to. A row left
    as it is imports nothing."""
    with Session(engine) as db:
        if db.get(Round, round_key) is None:
            return []
        rows = db.exec(
            select(Assignment.credit_code, Enterprise.name, Inspector.inspector_id, Inspector.name)
            .join(Enterprise, col(Enterprise.credit_code) == col(Assignment.credit_code))
            .join(Inspector, col(Inspector.inspector_id) == col(Assignment.inspector_id))
            .where(Assignment.round_key == round_key)
            .order_by(col(Assignment.credit_code), col(Assignment.position))
        ).all()
        latest = dict(
            db.execute(
                select(Finding.credit_code, func.max(FindingVersion.version))
                .join(FindingVersion, col(FindingVersion.finding_id) == col(Finding.id))
                .where(Finding.round_key == round_key)
                .group_by(col(Finding.credit_code))
            ).all()
        )
    names: dict[str, str] = {}
    teams: dict[str, list[str]] = {}
    for code, name, inspector_id, inspector in rows:
        names[code] = name
        teams.setdefault(code, []).append(f"{inspector}（{inspector_id}）")
    blank = [""] * (len(TEMPLATE_FIELDS) - 5)
    return [
        [round_key, code, names[code], "、".join(team), *blank, str(latest.get(code, 0))]
        for code, team in teams.items()
    ]


def as_xlsx(header: Sequence[str], rows: list[list[Any]]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.xlsx"
        write_xlsx(path, header, rows)
        return path.read_bytes()


def as_csv(header: Sequence[str], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv_writer(buf)
    writer.writerow(header)
    for row in rows:
        writer.writerow(row)
    return buf.getvalue().encode("utf-8-sig")  # Excel reads UTF-8 with its BOM
