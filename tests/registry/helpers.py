"""Small registry files for tests, and full dumps of the registry tables."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from registry import uscc
from registry.schema import KINDS

REGISTRY_TABLES = (
    "enterprise",
    "certificate",
    "inspector",
    "conflict",
    "checkitem",
    "registry_change",
)


def code(n: int, division: str = "350102", prefix: str = "91") -> str:
    """A valid credit code, unique per ``n``."""
    return uscc.make(prefix, division, f"{n:08d}")


def write_csv(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]], encoding: str = "utf-8-sig"
) -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def enterprise_row(n: int, **changes: str) -> list[str]:
    row = {
        "credit_code": code(n),
        "name": f"福州市鼓楼区测试{n}电子科技有限公司",
        "division_code": "350102",
        "address": "福建省福州市鼓楼区五四路1号",
        "industry": "制造业",
        "risk_class": "A",
        "abnormal_listed": "false",
        "serious_violation": "false",
        "status": "active",
    }
    row.update(changes)
    return [row[f] for f in KINDS["enterprises"].fields]


def certificate_row(n: int, enterprise: int, **changes: str) -> list[str]:
    row = {
        "body": "CQC",
        "number": f"20240107{n:08d}",
        "credit_code": code(enterprise),
        "kind": "ccc",
        "scope": "信息技术设备",
        "status": "valid",
        "issued_on": "2024-01-02",
        "expires_on": "2029-01-01",
    }
    row.update(changes)
    return [row[f] for f in KINDS["certificates"].fields]


def enterprises_file(path: Path, rows: Sequence[Sequence[str]], **kw: Any) -> Path:
    return write_csv(path, KINDS["enterprises"].fields, rows, **kw)


def certificates_file(path: Path, rows: Sequence[Sequence[str]], **kw: Any) -> Path:
    return write_csv(path, KINDS["certificates"].fields, rows, **kw)


def dump(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every registry table, in primary-key order."""
    meta = sa.MetaData()
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name in REGISTRY_TABLES:
            table = sa.Table(name, meta, autoload_with=conn)
            pk = list(table.primary_key.columns)
            out[name] = [tuple(r) for r in conn.execute(sa.select(table).order_by(*pk))]
    return out
