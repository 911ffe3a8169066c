"""A file with any bad row imports nothing and lists every bad row as FILE:ROW: field: reason."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from registry import importer, keylog
from registry.divisions import divisions
from registry.history import current_rows, registry_at
from registry.importer import import_file, import_files
from registry.schema import KINDS, row_key
from registry.validate import RowValidator
from shuangsui.db import session_scope
from shuangsui.errors import ImportRejected, UserError

from .helpers import (
    certificate_row,
    certificates_file,
    code,
    dump,
    enterprise_row,
    enterprises_file,
    write_csv,
)


@pytest.fixture
def seeded(engine: sa.Engine, tmp_path: Path) -> sa.Engine:
    """A registry that already holds two enterprises and a certificate."""
    ents = enterprises_file(tmp_path / "seed-ent.csv", [enterprise_row(1), enterprise_row(2)])
    certs = certificates_file(tmp_path / "seed-cert.csv", [certificate_row(1, 1)])
    with session_scope(engine) as session:
        import_files(session=session, files=[("enterprises", ents), ("certificates", certs)])
    return engine


def _rejected(engine: sa.Engine, kind: str, path: Path) -> list[str]:
    before = dump(engine)
    with pytest.raises(ImportRejected) as info, session_scope(engine) as session:
        import_file(session=session, kind=kind, path=path)
    assert dump(engine) == before, "a rejected file must leave the database exactly as it was"
    return [str(p) for p in info.value.problems]


def _expect(lines: list[str], path: Path, expected: list[tuple[int, str, str]]) -> None:
    assert len(lines) == len(expected), lines
    for line, (row, field, reason) in zip(lines, expected, strict=True):
        assert line.startswith(f"{path}:{row}: {field}: "), line
        assert reason in line, line


def test_bad_enterprises_file(seeded: sa.Engine, tmp_path: Path) -> None:
    wrong_check = code(3)[:17] + ("0" if code(3)[17] != "0" else "1")
    path = enterprises_file(
        tmp_path / "bad.csv",
        [
            enterprise_row(3, credit_code=wrong_check),  # row 2
            enterprise_row(4, division_code="350199"),  # row 3
            enterprise_row(5),  # row 4: good, then duplicated on row 6
            enterprise_row(6, risk_class="E"),  # row 5
            enterprise_row(5, name="重复"),  # row 6
            enterprise_row(7, status="歇业"),  # row 7
            enterprise_row(8, division_code="350182"),  # row 8: 长乐市, abolished
            enterprise_row(1, name="改名但文件有错，不得写入"),  # row 9: good update
        ],
    )
    lines = _rejected(seeded, "enterprises", path)
    _expect(
        lines,
        path,
        [
            (2, "credit_code", "wrong check character"),
            (3, "division_code", "unknown division code 350199"),
            (5, "risk_class", "unknown value 'E'"),
            (6, "credit_code", "duplicate key"),
            (7, "status", "unknown value '歇业'"),
            (8, "division_code", "no longer in force"),
        ],
    )
    assert "(first on row 4)" in lines[3]


def test_bad_certificates_file(seeded: sa.Engine, tmp_path: Path) -> None:
    path = certificates_file(
        tmp_path / "bad-cert.csv",
        [
            certificate_row(2, 1),  # good
            certificate_row(3, 99),  # dangling reference
            certificate_row(4, 1, issued_on="2024-02-30"),  # bad date
            certificate_row(5, 1, expires_on="明年"),  # bad date
            certificate_row(6, 1, status="过期"),  # bad enum
            certificate_row(7, 1, kind="有机"),  # an organic certificate with a CCC number
            certificate_row(8, 1, number="２０２４０１０７００００００１１"),  # full-width digits
        ],
    )
    lines = _rejected(seeded, "certificates", path)
    _expect(
        lines,
        path,
        [
            (3, "credit_code", f"no enterprise {code(99)}"),
            (4, "issued_on", "not a real date"),
            (5, "expires_on", "not a date"),
            (6, "status", "unknown value '过期'"),
            (7, "number", "organic certificate number"),
            (8, "number", "a CCC certificate number is 16 digits"),
        ],
    )


def test_bad_inspectors_file(seeded: sa.Engine, tmp_path: Path) -> None:
    """A credential that ends before it begins is named on its row, after a row with a bad
    cell (whose cross checks are not run) and beside good ones."""

    def inspector(n: int, valid_from: str, valid_until: str, division: str = "350100") -> list[str]:
        return [f"FJ{n:03d}", "林晓", "福州市市场监督管理局", division, f"3501000000{n}",
                valid_from, valid_until, "CCC", "", "", "", "钉钉", "zh", "在岗"]  # fmt: skip

    path = write_csv(
        tmp_path / "inspectors.csv",
        KINDS["inspectors"].fields,
        [
            inspector(1, "2024-01-01", "2030-01-01"),  # good
            inspector(2, "2024-01-01", "2023-01-01", division="999999"),  # bad cell: no cross check
            inspector(3, "2024-01-01", "2030-01-01"),  # good
            inspector(4, "2024-01-01", "2023-12-31"),  # ends before it begins
        ],
    )
    lines = _rejected(seeded, "inspectors", path)
    _expect(
        lines,
        path,
        [
            (3, "division_code", "unknown division code 999999"),
            (5, "credential_valid_until", "before credential_valid_from"),
        ],
    )


def test_an_address_no_message_can_reach_is_named(seeded: sa.Engine, tmp_path: Path) -> None:
    """An inspector's e-mail or robot address that no message can be sent to is refused on its
    row: before, ``fj00027@@broken`` was imported, and the inspector's notices went nowhere
    (or, an address corrected to it, stayed waiting at the old one) with nothing said."""

    def inspector(n: int, email: str, url: str = "", kind: str = "钉钉") -> list[str]:
        return [f"FJ{n:03d}", "林晓", "福州市市场监督管理局", "350100", f"3501000000{n}",
                "2024-01-01", "2030-01-01", "CCC", "", email, url, kind, "zh", "在岗"]  # fmt: skip

    good = [
        inspector(1, "lin.xiao@scjg.fujian.gov.cn"),
        inspector(2, "", "https://oapi.dingtalk.com/robot/send?access_token=abc"),
        inspector(3, "fj003@localhost"),
        inspector(4, ""),  # no address: the import takes it; the draw says who is unreachable
    ]
    path = write_csv(
        tmp_path / "inspectors.csv",
        KINDS["inspectors"].fields,
        [
            *good,
            inspector(5, "fj00027@@broken"),
            inspector(6, "林晓 <lin@example.org>"),
            inspector(7, "lin@example"),
            inspector(8, "", "oapi.dingtalk.com/robot/send"),
            inspector(9, "", "javascript:alert(1)"),
            inspector(10, "", "https:///robot"),
            inspector(11, "bad@", "https://[oops/robot"),
        ],
    )
    lines = _rejected(seeded, "inspectors", path)
    _expect(
        lines,
        path,
        [
            (6, "email", "not an e-mail address (name@domain): 'fj00027@@broken'"),
            (7, "email", "not an e-mail address"),
            (8, "email", "'lin@example'"),
            (9, "webhook_url", "not an http(s) address with a host: 'oapi.dingtalk.com"),
            (10, "webhook_url", "'javascript:alert(1)'"),
            (11, "webhook_url", "'https:///robot'"),
            (12, "email", "'bad@'"),
            (12, "webhook_url", "'https://[oops/robot'"),
        ],
    )
    good_file = write_csv(tmp_path / "good.csv", KINDS["inspectors"].fields, good)
    with session_scope(seeded) as session:
        import_file(session=session, kind="inspectors", path=good_file)


@pytest.mark.parametrize(
    ("kind", "missing"),
    [("certificates", "issued_on"), ("certificates", "expires_on"), ("certificates", "kind"),
     ("certificates", "credit_code"), ("enterprises", "division_code"), ("enterprises", "name")],
)  # fmt: skip
def test_a_file_without_a_required_column_is_named_not_crashed(
    seeded: sa.Engine, tmp_path: Path, kind: str, missing: str
) -> None:
    """A required column left out of a file with rows: the header's problem names it, and
    nothing else is said of the file, whose rows could be neither looked up nor written. (The
    import went on to write them and stopped on the table's NOT NULL, or on a cross check
    comparing the missing column, with a traceback.) A later file of the set is read as usual."""
    made = {"certificates": [certificate_row(n, 1) for n in (2, 3)],
            "enterprises": [enterprise_row(n) for n in (7, 8)]}  # fmt: skip
    at = list(KINDS[kind].fields).index(missing)
    fields = [f for f in KINDS[kind].fields if f != missing]
    path = write_csv(tmp_path / "file.csv", fields, [r[:at] + r[at + 1 :] for r in made[kind]])
    later = certificates_file(tmp_path / "later.csv", [certificate_row(9, 1, status="bad")])
    files = [(kind, path)] if kind == "certificates" else [(kind, path), ("certificates", later)]
    before = dump(seeded)
    with pytest.raises(ImportRejected) as info, session_scope(seeded) as session:
        import_files(session=session, files=files)
    assert dump(seeded) == before
    lines = [str(p) for p in info.value.problems]
    expected = [f"{path}:1: {missing}: required column is missing"]
    if kind == "enterprises":
        expected.append(f"{later}:2: status: unknown value 'bad'")
    assert [line.split(" (allowed")[0] for line in lines] == expected


def test_the_validator_reads_rows_whose_header_lacks_a_compared_column() -> None:
    """The importer reads no row of such a file; the validator alone still reads them, making
    the cross checks whose columns it has (here the certificate number's, not the dates')."""
    validator = RowValidator(KINDS["certificates"], "c.csv", divisions(), {}, date(2026, 12, 2))
    fields = [f for f in KINDS["certificates"].fields if f != "expires_on"]
    assert [str(p) for p in validator.read_header(fields)] == [
        "c.csv:1: expires_on: required column is missing"
    ]
    at = list(KINDS["certificates"].fields).index("expires_on")
    good, bad_number = certificate_row(2, 1), certificate_row(3, 1, kind="有机")
    parsed = validator.parse_rows(
        [(2, good[:at] + good[at + 1 :]), (3, bad_number[:at] + bad_number[at + 1 :])]
    )
    assert [[str(p) for p in problems] for _, _, problems in parsed] == [
        [],
        ["c.csv:3: number: an organic certificate number is CB code + OP + yy + serial"],
    ]


def test_a_cell_too_long_for_the_csv_reader_names_its_file_and_row(
    seeded: sa.Engine, tmp_path: Path
) -> None:
    """A cell over the csv module's limit (128 KiB) stops the reading: the error names the
    file and the row the cell is on, and the set, a good file of it already written, changes
    nothing. A tab and a line break inside a quoted cell are text, not controls."""
    ents = enterprises_file(
        tmp_path / "e.csv", [enterprise_row(20, address="福建省\t福州市\n鼓楼区五四路1号")]
    )
    big = certificates_file(
        tmp_path / "c.csv", [certificate_row(20, 20), certificate_row(21, 20, scope="x" * 200_000)]
    )
    before = dump(seeded)
    with pytest.raises(UserError, match=rf"^{re.escape(str(big))}:3: not readable as CSV: "):
        with session_scope(seeded) as session:
            import_files(session=session, files=[("enterprises", ents), ("certificates", big)])
    assert dump(seeded) == before
    with session_scope(seeded) as session:
        import_files(session=session, files=[("enterprises", ents)])
    with seeded.connect() as conn:
        address = conn.execute(
            sa.text("select address from enterprise where credit_code = :c"), {"c": code(20)}
        ).scalar()
    assert address == "福建省\t福州市\n鼓楼区五四路1号"


def test_gbk_file_with_bad_rows(seeded: sa.Engine, tmp_path: Path) -> None:
    path = enterprises_file(
        tmp_path / "gbk-bad.csv",
        [
            enterprise_row(10, name="泉州市丰泽区闽南茶业有限公司", division_code="350503"),
            enterprise_row(11, division_code="999999"),
            enterprise_row(12, abnormal_listed="也许"),
        ],
        encoding="gbk",
    )
    lines = _rejected(seeded, "enterprises", path)
    _expect(
        lines,
        path,
        [
            (3, "division_code", "unknown division code 999999"),
            (4, "abnormal_listed", "not a yes/no value"),
        ],
    )


def test_gbk_file_that_is_good_imports(seeded: sa.Engine, tmp_path: Path) -> None:
    path = enterprises_file(
        tmp_path / "gbk.csv",
        [
            enterprise_row(
                10,
                name="泉州市丰泽区闽南茶业有限公司",
                division_code="350503",
                risk_class="c",
                status="存续",
            ),
        ],
        encoding="gbk",
    )
    with session_scope(seeded) as session:
        result = import_file(session=session, kind="enterprises", path=path)
    assert result.inserted == 1
    with seeded.connect() as conn:
        name, risk = conn.execute(
            sa.text("select name, risk_class from enterprise where credit_code = :c"),
            {"c": code(10)},
        ).one()
    assert (name, risk) == ("泉州市丰泽区闽南茶业有限公司", "C")


def test_header_problems_are_on_row_1(seeded: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("统一社会信用代码,企业名称,颜色\n", encoding="utf-8")
    lines = _rejected(seeded, "enterprises", path)
    assert lines == [
        f"{path}:1: 颜色: unknown column; the columns are credit_code (统一社会信用代码), "
        "name (企业名称), division_code (行政区划代码), address (住所), industry (行业), "
        "risk_class (风险等级), abnormal_listed (列入经营异常名录), serious_violation "
        "(严重违法失信), status (登记状态)",
        f"{path}:1: division_code: required column is missing",
    ]


def test_an_unknown_column_names_the_accepted_ones_nearest_it(
    seeded: sa.Engine, tmp_path: Path
) -> None:
    """An unknown header was only "unknown column": ``状态`` never said that ``登记状态`` and
    ``企业状态`` are what an enterprises file calls its status."""
    path = tmp_path / "header.csv"
    path.write_text("统一社会信用代码,企业名称,行政区划代码,状态,risk_clas\n", encoding="utf-8")
    assert _rejected(seeded, "enterprises", path) == [
        f"{path}:1: 状态: unknown column; did you mean 登记状态 or 企业状态?",
        f"{path}:1: risk_clas: unknown column; did you mean risk_class?",
    ]


def test_a_bad_file_in_a_set_rejects_the_whole_set(seeded: sa.Engine, tmp_path: Path) -> None:
    ents = enterprises_file(tmp_path / "e.csv", [enterprise_row(20)])
    certs = certificates_file(tmp_path / "c.csv", [certificate_row(20, 20, status="bad")])
    before = dump(seeded)
    with pytest.raises(ImportRejected) as info, session_scope(seeded) as session:
        import_files(session=session, files=[("certificates", certs), ("enterprises", ents)])
    assert [str(p).split(": ")[0] for p in info.value.problems] == [f"{certs}:2"]
    assert dump(seeded) == before


def test_first_import_finds_duplicates_across_chunks(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first import keeps no keys in memory: a key repeated in a later chunk is found in the
    rows already written (also after a bad row, until the rollback), and its first row by
    reading the file again; a row left unwritten for a dangling reference is remembered."""
    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    monkeypatch.setattr(importer, "ANALYZE_FROM", 2)  # PostgreSQL: statistics as rows come
    ents = enterprises_file(
        tmp_path / "ent.csv",
        [
            enterprise_row(1),  # row 2
            enterprise_row(2, risk_class="E"),  # row 3: bad, so nothing will be applied
            enterprise_row(3),  # row 4
            enterprise_row(4),  # row 5
            enterprise_row(1, name="重复"),  # row 6: a later chunk repeats row 2
            enterprise_row(3, name="重复"),  # row 7: and row 4
            enterprise_row(2),  # row 8: row 3 was bad, so this is the first good one
        ],
    )
    certs = certificates_file(
        tmp_path / "cert.csv",
        [
            certificate_row(1, 99),  # row 2: dangling reference, not written
            certificate_row(2, 1),  # row 3
            certificate_row(3, 1),  # row 4
            certificate_row(1, 1),  # row 5: repeats the unwritten row 2
            certificate_row(2, 3),  # row 6: repeats row 3, written in the first chunk
        ],
    )
    before = dump(engine)
    with pytest.raises(ImportRejected) as info, session_scope(engine) as session:
        import_files(session=session, files=[("enterprises", ents), ("certificates", certs)])
    assert dump(engine) == before
    lines = [str(p) for p in info.value.problems]
    assert lines == [
        f"{ents}:3: risk_class: unknown value 'E' (allowed: A, B, C, D or their Chinese labels)",
        f"{ents}:6: credit_code: duplicate key {code(1)} (first on row 2)",
        f"{ents}:7: credit_code: duplicate key {code(3)} (first on row 4)",
        f"{certs}:2: credit_code: no enterprise {code(99)} in the registry or earlier in this"
        " import",
        f"{certs}:5: number: duplicate key CQC|2024010700000001 (first on row 2)",
        f"{certs}:6: number: duplicate key CQC|2024010700000002 (first on row 3)",
    ]


def _refused_files(caplog: pytest.LogCaptureFixture) -> int:
    """How many files of a first import the database's keys refused."""
    return sum("read again with look-ups" in r.getMessage() for r in caplog.records)


def test_a_file_refused_by_its_keys_is_looked_up(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A first import writes each file without looking keys up; a duplicate of an earlier
    chunk makes the primary key refuse the file, which is then rolled back to its savepoint and
    read again with the look-ups: the duplicate is named with its first row, and the good rows
    are written, so that a later repeat of them is found too."""
    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    caplog.set_level(logging.DEBUG, logger="registry.importer")
    ents = enterprises_file(
        tmp_path / "ent.csv",
        [
            enterprise_row(1),  # row 2
            enterprise_row(2),  # row 3
            enterprise_row(3),  # row 4: new, in a chunk the primary key refuses for row 5
            enterprise_row(1, name="重复"),  # row 5: repeats row 2
            enterprise_row(3, name="重复"),  # row 6: repeats row 4
            enterprise_row(4),  # row 7
        ],
    )
    certs = certificates_file(
        tmp_path / "cert.csv",
        [
            certificate_row(1, 1),  # row 2
            certificate_row(2, 99),  # row 3: a foreign key refuses this chunk
            certificate_row(3, 4),  # row 4: names an enterprise written in a refused chunk
            certificate_row(1, 2),  # row 5: repeats row 2
        ],
    )
    before = dump(engine)
    with pytest.raises(ImportRejected) as info, session_scope(engine) as session:
        import_files(session=session, files=[("enterprises", ents), ("certificates", certs)])
    assert dump(engine) == before
    assert [str(p) for p in info.value.problems] == [
        f"{ents}:5: credit_code: duplicate key {code(1)} (first on row 2)",
        f"{ents}:6: credit_code: duplicate key {code(3)} (first on row 4)",
        f"{certs}:3: credit_code: no enterprise {code(99)} in the registry or earlier in this"
        " import",
        f"{certs}:5: number: duplicate key CQC|2024010700000001 (first on row 2)",
    ]
    # each file once: enterprises at rows 4-5, certificates at rows 2-3
    assert _refused_files(caplog) == 2


def test_a_first_import_in_many_chunks_writes_every_row_once(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A good first import written chunk by chunk (each in a savepoint): every
    row once, one history row per row in file order, none refused."""
    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    caplog.set_level(logging.DEBUG, logger="registry.importer")
    ents = enterprises_file(tmp_path / "ent.csv", [enterprise_row(n) for n in range(1, 8)])
    certs = certificates_file(
        tmp_path / "cert.csv", [certificate_row(n, 8 - n) for n in range(1, 8)]
    )
    now = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    with session_scope(engine) as session:
        results = import_files(
            session=session, files=[("enterprises", ents), ("certificates", certs)], now=now
        )
    assert [(r.rows, r.inserted) for r in results] == [(7, 7), (7, 7)]
    with engine.connect() as conn:
        history = conn.execute(
            sa.text("select table_name, row_key, op from registry_change order by seq")
        ).all()
    assert [tuple(h) for h in history] == [
        *(("enterprise", code(n), "insert") for n in range(1, 8)),
        *(("certificate", f"CQC|20240107{n:08d}", "insert") for n in range(1, 8)),
    ]
    with session_scope(engine) as session:
        for kind in ("enterprises", "certificates"):
            rows = current_rows(session=session, kind=kind)
            assert len(rows) == 7
            assert registry_at(session=session, kind=kind, instant=now) == rows
    assert _refused_files(caplog) == 0


def test_a_file_of_bad_rows_names_the_first_ones_and_counts_them_all(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong file can hold millions of bad rows: the import names the first ones found (a
    thousand; five here), counts every one, keeps no record of the rest, and imports nothing."""
    from shuangsui import errors

    monkeypatch.setattr(errors, "PROBLEMS_NAMED", 5)
    rows = [
        enterprise_row(i, **({"division_code": "99999"} if i > 3 else {})) for i in range(1, 31)
    ]
    # 27 bad rows, after three good ones
    path = enterprises_file(tmp_path / "ent.csv", rows)
    before = dump(engine)
    with pytest.raises(ImportRejected) as info, session_scope(engine) as session:
        import_file(session=session, kind="enterprises", path=path)
    assert dump(engine) == before
    rejected = info.value
    assert rejected.total == 27 and [p.row for p in rejected.problems] == [5, 6, 7, 8, 9]
    assert str(rejected).startswith("27 problem(s); nothing was imported:\n")
    assert str(rejected).endswith("... and 22 more (the first 5 found are listed)")


@pytest.mark.parametrize("clash", [False, True], ids=["hashes", "one hash for every key"])
def test_a_reimport_names_duplicates_from_its_key_log(
    seeded: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clash: bool
) -> None:
    """A file whose table already holds rows: a key found there may be an old row or an
    earlier row of the file, so the file's keys are logged, a chunk at a time. A repeat in a
    later chunk is named with its first row, whether that row was stored already (row 2), or
    new (row 4); a fixed file then imports on the same connection. The log keeps hashes and
    confirms a match by reading the rows again: with every key given one hash, the answers
    are the same."""
    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    if clash:
        monkeypatch.setattr(keylog, "key_hash", lambda key: 7)
    again = enterprises_file(
        tmp_path / "again.csv",
        [
            enterprise_row(1),  # row 2: as stored
            enterprise_row(2, name="改名"),  # row 3: changed
            enterprise_row(5),  # row 4: new
            enterprise_row(1, name="重复"),  # row 5: repeats row 2
            enterprise_row(5, name="重复"),  # row 6: repeats row 4
        ],
    )
    fixed = [enterprise_row(1), enterprise_row(2, name="改名"), enterprise_row(5)]
    fixed_file = enterprises_file(tmp_path / "fixed.csv", fixed)
    before = dump(seeded)
    with seeded.connect() as conn, Session(bind=conn) as session:  # one connection throughout
        with pytest.raises(ImportRejected) as info:
            import_file(session=session, kind="enterprises", path=again)
        assert [str(p) for p in info.value.problems] == [
            f"{again}:5: credit_code: duplicate key {code(1)} (first on row 2)",
            f"{again}:6: credit_code: duplicate key {code(5)} (first on row 4)",
        ]
        session.rollback()
        assert dump(seeded) == before
        result = import_file(session=session, kind="enterprises", path=fixed_file)
        assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
        session.commit()
    with session_scope(seeded) as session:
        rows = current_rows(session=session, kind="enterprises")
    assert rows[(code(2),)]["name"] == "改名" and (code(5),) in rows


def test_a_reimport_looks_up_only_new_and_changed_references(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stored row's reference resolves (its foreign key saw to that), so a re-import looks up
    only the references of new rows and changed ones: a certificate moved to an enterprise
    nobody registered is named, one moved to an enterprise new in the same import set is not,
    and neither is one left as it was; every looked-up reference is one of those rows'."""
    ents = enterprises_file(tmp_path / "e1.csv", [enterprise_row(n) for n in (1, 2, 3)])
    certs = certificates_file(tmp_path / "c1.csv", [certificate_row(n, n) for n in (1, 2, 3)])
    with session_scope(engine) as session:
        import_files(session=session, files=[("enterprises", ents), ("certificates", certs)])
    looked_up: set[str] = set()  # the enterprises asked for by a reference
    fetch_existing = importer._fetch_existing

    def spying(conn, spec, keys, columns=None):  # type: ignore[no-untyped-def]
        keys = list(keys)
        if spec.name == "enterprises" and columns is not None:  # a reference's look-up
            looked_up.update(row_key(k) for k in keys)
        return fetch_existing(conn, spec, keys, columns)

    monkeypatch.setattr(importer, "_fetch_existing", spying)
    ents = enterprises_file(tmp_path / "e2.csv", [enterprise_row(n) for n in (1, 2, 3, 4)])
    rows = [certificate_row(1, 1), certificate_row(2, 99), certificate_row(3, 4)]
    certs = certificates_file(tmp_path / "c2.csv", [*rows, certificate_row(4, 2)])
    before = dump(engine)
    with pytest.raises(ImportRejected) as info, session_scope(engine) as session:
        import_files(session=session, files=[("enterprises", ents), ("certificates", certs)])
    assert dump(engine) == before
    assert [str(p) for p in info.value.problems] == [
        f"{certs}:3: credit_code: no enterprise {code(99)} in the registry or earlier in this"
        " import",
    ]
    assert looked_up == {code(99), code(4), code(2)}  # not code(1): certificate 1 is as stored
    certs = certificates_file(tmp_path / "c3.csv", [rows[0], rows[2], certificate_row(4, 2)])
    with session_scope(engine) as session:
        results = import_files(
            session=session, files=[("enterprises", ents), ("certificates", certs)]
        )
    assert [(r.inserted, r.updated, r.unchanged) for r in results] == [(1, 0, 3), (1, 1, 1)]
    with session_scope(engine) as session:
        stored = current_rows(session=session, kind="certificates")
    assert [stored[("CQC", f"20240107{n:08d}")]["credit_code"] for n in (1, 2, 3, 4)] == [
        code(1),
        code(2),
        code(4),
        code(2),
    ]


@pytest.mark.parametrize("stored", [False, True], ids=["first import", "re-import"])
def test_a_duplicate_across_two_files_of_a_kind_names_where_it_was_first(
    engine: sa.Engine, tmp_path: Path, stored: bool
) -> None:
    """A folder may hold a kind twice (``enterprises.csv`` and ``enterprises.xlsx``): a key
    repeated in the second file is named with the file and row it was first seen on when that
    row's key was logged (a re-import), and as being in an earlier file when the table's keys
    found it (a first import); never as a row of the file it is not in."""
    if stored:
        seed = enterprises_file(tmp_path / "seed.csv", [enterprise_row(9)])
        with session_scope(engine) as session:
            import_files(session=session, files=[("enterprises", seed)])
    a = enterprises_file(tmp_path / "a.csv", [enterprise_row(n) for n in (1, 2, 3)])
    b = enterprises_file(tmp_path / "b.csv", [enterprise_row(4), enterprise_row(2, name="重复")])
    before = dump(engine)
    with pytest.raises(ImportRejected) as info, session_scope(engine) as session:
        import_files(session=session, files=[("enterprises", a), ("enterprises", b)])
    assert dump(engine) == before
    where = f"first on row 3 of {a}" if stored else "first in an earlier file of this import"
    assert [str(p) for p in info.value.problems] == [
        f"{b}:3: credit_code: duplicate key {code(2)} ({where})"
    ]
