"""The generator: deterministic bytes, plausible content, files that import cleanly."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry import uscc
from registry.divisions import divisions
from registry.generate import ORGANIC_BODIES, _Generator, generate
from registry.history import current_rows
from registry.importer import import_files
from registry.schema import IMPORT_ORDER
from registry.validate import CCC_NUMBER, ORGANIC_NUMBER
from shuangsui.db import session_scope

FILES = (
    "enterprises.csv",
    "certificates.csv",
    "inspectors.csv",
    "conflicts.csv",
    "check-items.csv",
)


def _bytes(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in FILES}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    generate(enterprises=300, inspectors=20, seed=42, out=tmp_path / "a")
    generate(enterprises=300, inspectors=20, seed=42, out=tmp_path / "b")
    generate(enterprises=300, inspectors=20, seed=43, out=tmp_path / "c")
    a, b, c = (_bytes(tmp_path / d) for d in "abc")
    assert a == b
    for name in ("enterprises.csv", "certificates.csv", "inspectors.csv", "conflicts.csv"):
        assert a[name] != c[name]


def test_generated_content_is_plausible(tmp_path: Path) -> None:
    generate(enterprises=2000, inspectors=30, seed=1, out=tmp_path)
    with (tmp_path / "enterprises.csv").open(encoding="utf-8-sig") as fh:
        ents = list(csv.DictReader(fh))
    with (tmp_path / "certificates.csv").open(encoding="utf-8-sig") as fh:
        certs = list(csv.DictReader(fh))
    table = divisions()
    for e in ents:
        assert uscc.is_valid_stdnum(e["credit_code"])
        assert table.is_known(e["credit_code"][2:8])
        assert e["credit_code"][2:8] == e["division_code"]
    prefixes = Counter(e["credit_code"][:2] for e in ents)
    assert prefixes["91"] > 1500 and prefixes["92"] > 0 and prefixes["93"] > 0
    fujian = sum(e["division_code"].startswith("35") for e in ents)
    assert 0.75 < fujian / len(ents) < 0.95
    risk = Counter(e["risk_class"] for e in ents)
    assert risk["A"] > risk["B"] > risk["C"] > risk["D"] > 0
    assert any("市" in e["name"] and e["name"].endswith("公司") for e in ents)
    statuses = Counter(c["status"] for c in certs)
    assert statuses["valid"] and statuses["suspended"] and statuses["withdrawn"]
    assert any(c["expires_on"] < "2026-01-01" for c in certs)
    for c in certs:
        if c["kind"] == "ccc":
            assert CCC_NUMBER.fullmatch(c["number"]) and c["number"][4:6] == "01"
        if c["kind"] == "organic":
            assert ORGANIC_NUMBER.fullmatch(c["number"])
    items = (tmp_path / "check-items.csv").read_text(encoding="utf-8-sig")
    for basis in (
        "《中华人民共和国认证认可条例》",
        "《强制性产品认证管理规定》",
        "《有机产品认证管理办法》",
    ):
        assert basis in items


def test_generated_files_import_cleanly(engine: sa.Engine, tmp_path: Path) -> None:
    counts = generate(enterprises=400, inspectors=25, seed=3, out=tmp_path)
    files = [(kind, tmp_path / f"{kind}.csv") for kind in IMPORT_ORDER]
    with session_scope(engine) as session:
        results = import_files(session=session, files=files)
    assert {r.kind: r.inserted for r in results} == counts
    with session_scope(engine) as session:
        inspectors = current_rows(session=session, kind="inspectors")
    assert any(i["leave"] for i in inspectors.values())
    assert all(i["expertise"] for i in inspectors.values())


def test_serials_past_their_width_stay_valid_and_distinct() -> None:
    """A registry of millions outgrows the organic five-digit serial per body and year: the
    numbers go on with the "-n" suffix the format allows; CCC's six digits fail loudly."""
    gen = _Generator(5, divisions())
    numbers = set()
    for start in (99_997, 2 * 99_999 - 2):
        gen.serials = {
            ("op", cb, f"{y:02d}"): start for _, cb in ORGANIC_BODIES for y in range(100)
        }
        for _ in range(200):
            cert = gen.certificate("91350100MA2XXXXXX0", "")
            if cert["kind"] == "organic":
                assert ORGANIC_NUMBER.fullmatch(cert["number"]), cert["number"]
                numbers.add(cert["number"])
    assert any(n.endswith("-1") for n in numbers) and any(n.endswith("-2") for n in numbers)
    assert any("-" not in n for n in numbers)
    gen.serials = {("ccc", str(y)): 999_999 for y in range(2015, 2030)}
    with pytest.raises(ValueError, match="999,999 CCC certificates"):
        for _ in range(200):
            gen.certificate("91350100MA2XXXXXX0", "家用电器")
