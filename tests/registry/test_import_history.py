"""Idempotent upserts, history of changes, the registry at an instant, XLSX, export round trip."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa

from registry.export import export_all, export_kind
from registry.history import current_rows, registry_at
from registry.importer import import_file, import_files
from registry.schema import IMPORT_ORDER, KINDS
from shuangsui.db import session_scope
from shuangsui.errors import ImportRejected

from .helpers import (
    certificate_row,
    certificates_file,
    code,
    dump,
    enterprise_row,
    enterprises_file,
    write_csv,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _import(engine: sa.Engine, kind: str, path: Path, at: datetime):  # type: ignore[no-untyped-def]
    with session_scope(engine) as session:
        return import_file(session=session, kind=kind, path=path, now=at)


def _changes(engine: sa.Engine) -> list[tuple]:  # type: ignore[type-arg]
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.text(
                    "select seq, table_name, row_key, op, batch_id, source from registry_change "
                    "order by seq"
                )
            )
        ]


def test_reimport_changes_nothing(engine: sa.Engine, tmp_path: Path) -> None:
    path = enterprises_file(tmp_path / "e.csv", [enterprise_row(n) for n in range(1, 6)])
    first = _import(engine, "enterprises", path, T0)
    assert (first.inserted, first.updated, first.unchanged) == (5, 0, 0)
    before = dump(engine)
    assert len(before["registry_change"]) == 5
    again = _import(engine, "enterprises", path, T0 + timedelta(hours=1))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)
    assert dump(engine) == before  # no updated_at touched, no history rows


def test_changed_row_is_recorded(engine: sa.Engine, tmp_path: Path) -> None:
    v1 = enterprises_file(tmp_path / "v1.csv", [enterprise_row(1), enterprise_row(2)])
    _import(engine, "enterprises", v1, T0)
    v2 = enterprises_file(
        tmp_path / "v2.csv",
        [
            enterprise_row(1, risk_class="D", name="新名称有限公司"),
            enterprise_row(2),
            enterprise_row(3),
        ],
    )
    result = _import(engine, "enterprises", v2, T0 + timedelta(days=1))
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
    changes = _changes(engine)
    assert [(c[2], c[3]) for c in changes] == [
        (code(1), "insert"),
        (code(2), "insert"),
        (code(1), "update"),
        (code(3), "insert"),
    ]
    assert changes[2][4] == changes[3][4] != changes[0][4]  # one batch per import
    assert changes[2][5].startswith("v2.csv sha256:") and len(changes[2][5]) == 78
    with engine.connect() as conn:
        before, after = conn.execute(
            sa.text("select before, after from registry_change where op = 'update'")
        ).one()
    before, after = (
        v if isinstance(v, dict) else __import__("json").loads(v) for v in (before, after)
    )
    assert before["risk_class"] == "A" and after["risk_class"] == "D"
    assert after["name"] == "新名称有限公司"
    assert set(after) == set(KINDS["enterprises"].fields)


def test_registry_at_an_instant(engine: sa.Engine, tmp_path: Path) -> None:
    v1 = enterprises_file(tmp_path / "v1.csv", [enterprise_row(1), enterprise_row(2)])
    v2 = enterprises_file(
        tmp_path / "v2.csv", [enterprise_row(1, risk_class="C"), enterprise_row(3)]
    )
    _import(engine, "enterprises", v1, T0)
    with session_scope(engine) as session:
        state_v1 = current_rows(session=session, kind="enterprises")
    _import(engine, "enterprises", v2, T0 + timedelta(days=2))
    with session_scope(engine) as session:
        now = current_rows(session=session, kind="enterprises")
        assert (
            registry_at(session=session, kind="enterprises", instant=T0 - timedelta(seconds=1))
            == {}
        )
        assert registry_at(session=session, kind="enterprises", instant=T0) == state_v1
        assert (
            registry_at(session=session, kind="enterprises", instant=T0 + timedelta(days=1))
            == state_v1
        )
        assert (
            registry_at(session=session, kind="enterprises", instant=T0 + timedelta(days=3)) == now
        )
    assert state_v1[(code(1),)]["risk_class"] == "A"
    assert now[(code(1),)]["risk_class"] == "C" and len(now) == 3


def test_missing_optional_columns_keep_stored_values(engine: sa.Engine, tmp_path: Path) -> None:
    _import(
        engine,
        "enterprises",
        enterprises_file(
            tmp_path / "full.csv", [enterprise_row(1, risk_class="D", industry="批发业")]
        ),
        T0,
    )
    partial = write_csv(
        tmp_path / "partial.csv",
        ["统一社会信用代码", "企业名称", "行政区划代码"],
        [[code(1), "福州市鼓楼区测试1电子科技有限公司", "350102"]],
    )
    result = _import(engine, "enterprises", partial, T0 + timedelta(days=1))
    assert result.unchanged == 1


def test_xlsx_with_chinese_headers_and_labels(engine: sa.Engine, tmp_path: Path) -> None:
    enterprises_path = enterprises_file(tmp_path / "e.csv", [enterprise_row(1)])
    _import(engine, "enterprises", enterprises_path, T0)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(
        [
            "认证机构",
            "证书编号",
            "统一社会信用代码",
            "认证类型",
            "证书状态",
            "发证日期",
            "有效期至",
            "认证范围",
        ]
    )
    ws.append(
        [
            "CQC",
            "2024010701234567",
            code(1),
            "CCC",
            "暂停",
            datetime(2024, 1, 2),
            "2029-01-01",
            "信息技术设备",
        ]
    )
    ws.append(
        [
            "OFDC",
            "001OP2400012",
            code(1),
            "有机",
            "有效",
            "2024/3/1",
            "2025年2月28日",
            "有机产品（茶叶）",
        ]
    )
    ws.append(
        ["CQC", "0024Q00001R0M", code(1), "管理体系", "撤销", "2024-05-01", "2027-04-30", None]
    )
    path = tmp_path / "certs.xlsx"
    wb.save(path)
    assert _import(engine, "certificates", path, T0).inserted == 3
    with session_scope(engine) as session:
        rows = current_rows(session=session, kind="certificates")
    assert rows[("CQC", "2024010701234567")]["status"] == "suspended"
    assert rows[("CQC", "2024010701234567")]["issued_on"] == "2024-01-02"
    assert rows[("OFDC", "001OP2400012")]["expires_on"] == "2025-02-28"
    assert rows[("CQC", "0024Q00001R0M")]["kind"] == "management_system"
    wb = openpyxl.Workbook()
    wb.active.append(["body", "number", "credit_code", "kind", "issued_on", "expires_on"])
    wb.active.append(["CQC", "123", code(1), "ccc", "2024-01-01", "2023-01-01"])
    wb.save(bad := tmp_path / "bad.xlsx")
    with pytest.raises(ImportRejected) as info:
        _import(engine, "certificates", bad, T0)
    assert [str(p) for p in info.value.problems] == [
        f"{bad}:2: expires_on: before issued_on",
        f"{bad}:2: number: a CCC certificate number is 16 digits",
    ]


def _inspectors(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "inspectors.csv",
        KINDS["inspectors"].fields,
        [
            [
                "FJ001",
                "林晓",
                "福州市市场监督管理局",
                "350100",
                "35010000001",
                "2024-01-01",
                "2030-01-01",
                "CCC;有机",
                "2026-12-01..2026-12-10;2026-01-05",
                "",
                "",
                "钉钉",
                "zh",
                "在岗",
            ],
        ],
    )


def test_export_round_trip_changes_nothing(engine: sa.Engine, tmp_path: Path) -> None:
    ents = enterprises_file(tmp_path / "e.csv", [enterprise_row(1), enterprise_row(2)])
    certs = certificates_file(tmp_path / "c.csv", [certificate_row(1, 1), certificate_row(2, 2)])
    items = write_csv(
        tmp_path / "check-items.csv",
        KINDS["check-items"].fields,
        [
            [
                "RZ-01",
                "强制性产品认证获证产品一致性检查",
                "《强制性产品认证管理规定》",
                "重点",
                "CCC",
            ],
        ],
    )
    conflicts = write_csv(
        tmp_path / "conflicts.csv",
        KINDS["conflicts"].fields,
        [
            ["FJ001", code(2), "近亲属在该企业任职", "2025-06-01"],
        ],
    )
    with session_scope(engine) as session:
        import_files(
            session=session,
            now=T0,
            files=[
                ("enterprises", ents),
                ("certificates", certs),
                ("inspectors", _inspectors(tmp_path)),
                ("check-items", items),
                ("conflicts", conflicts),
            ],
        )
    with session_scope(engine) as session:
        inspector = current_rows(session=session, kind="inspectors")[("FJ001",)]
        assert inspector["expertise"] == ["ccc", "organic"]
        assert inspector["leave"] == [["2026-01-05", "2026-01-05"], ["2026-12-01", "2026-12-10"]]
        export_all(session=session, out_dir=tmp_path / "csv")
        export_kind(session=session, kind="inspectors", out=tmp_path / "inspectors.xlsx")
    before = dump(engine)
    exported = [(k, tmp_path / "csv" / f"{k}.csv") for k in KINDS]
    assert (tmp_path / "csv" / "enterprises.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    with session_scope(engine) as session:
        results = import_files(session=session, files=exported)
        results.append(
            import_file(session=session, kind="inspectors", path=tmp_path / "inspectors.xlsx")
        )
    assert all(r.inserted == r.updated == 0 and r.unchanged for r in results)
    assert dump(engine) == before


def test_rows_read_back_by_key_are_the_rows_sqlalchemy_reads(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """The importer compares a file's rows with the stored ones read straight from the driver
    (``registry.reader``); read so, every kind's rows are the canonical rows SQLAlchemy's own
    types give: booleans, lists, ISO dates and enumeration values alike, none missing, none
    extra, including keys that are not stored and, for two-column keys, combinations of
    stored values that are not a stored key."""
    from registry.generate import generate
    from registry.reader import rows_by_key

    generate(enterprises=400, inspectors=30, seed=7, out=tmp_path)
    # two inspectors each with a conflict of interest with one of two enterprises, and one of
    # them with both: asked for (i, c2) and (j, c1), a look-up by a list of values per column
    # would also find (i, c1)
    with (tmp_path / "enterprises.csv").open(encoding="utf-8-sig") as fh:
        c1, c2 = (row["credit_code"] for row in islice(csv.DictReader(fh), 2))
    i, j = "FJ00001", "FJ00002"
    with (tmp_path / "conflicts.csv").open("a", encoding="utf-8") as fh:
        for a, b in ((i, c1), (i, c2), (j, c1)):
            fh.write(f"{a},{b},曾在该企业任职,2026-01-05\n")
    seen: set[tuple[type, bool]] = set()
    with session_scope(engine) as session:
        import_files(session=session, files=[(k, tmp_path / f"{k}.csv") for k in IMPORT_ORDER])
    with session_scope(engine) as session:
        for kind in IMPORT_ORDER:
            spec = KINDS[kind]
            expected = current_rows(session=session, kind=kind)
            keys = list(expected)
            missing = [tuple("NOT-STORED" for _ in spec.key)]
            conn = session.connection()
            read = rows_by_key(conn, spec.table, spec.key, spec.fields, keys + missing)
            rows = [dict(zip(spec.fields, r, strict=True)) for r in read]
            got = {spec.key_of(row): row for row in rows}
            assert len(rows) == len(got) and got == expected, kind
            for k in keys:
                for f in spec.fields:
                    assert type(got[k][f]) is type(expected[k][f]), (kind, k, f)
                    seen.add((type(got[k][f]), bool(got[k][f])))
    assert {(bool, True), (bool, False), (list, True), (list, False), (str, True)} <= seen
    with session_scope(engine) as session:
        spec = KINDS["conflicts"]
        read = rows_by_key(session.connection(), spec.table, spec.key, spec.key, [(i, c2), (j, c1)])
        assert sorted(read) == [(i, c2), (j, c1)]
