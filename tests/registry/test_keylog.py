"""The import set's key log keeps hashes; the importer confirms every match by reading rows again,
so a clash of hashes changes no answer."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry import importer, keylog
from registry.history import current_rows
from registry.importer import import_files
from registry.keylog import KeyLog
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
)


@pytest.mark.parametrize("limit", [keylog.RUN_LIMIT, 700], ids=["runs merged", "runs capped"])
def test_the_log_answers_as_a_list_of_its_entries_would(
    monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    """Keys logged a chunk at a time from two files, with a hash of 200 values so that many
    keys share one: each key's ``perhaps`` is whether a logged key has its hash, ``entries``
    are exactly the logged entries with those hashes in the order they came, and the runs
    stay few as they merge (or as many as their cap asks)."""
    monkeypatch.setattr(keylog, "key_hash", lambda key: hash(key) % 200 - 100)
    monkeypatch.setattr(keylog, "RUN_LIMIT", limit)
    rng = random.Random(17)
    log = KeyLog()
    logged: list[tuple[str, str, int]] = []  # key, file, row: what the log must hold
    for file in ("a.csv", "b.csv"):
        for start in range(2, 6_000, 97):
            keys = [f"K{rng.randrange(5_000)}" for _ in range(rng.randrange(1, 97))]
            keys = list(dict.fromkeys(keys))
            rows = list(range(start, start + len(keys)))
            asked = [*keys, f"absent{start}"]
            hashes = {keylog.key_hash(k) for k, _, _ in logged}
            assert log.perhaps("enterprises", asked).tolist() == [
                keylog.key_hash(k) in hashes for k in asked
            ]
            log.add("enterprises", file, keys, rows)
            logged += [(k, file, r) for k, r in zip(keys, rows, strict=True)]
    assert len(log) == len(logged)
    runs = [len(run) for run in log._runs["enterprises"]]
    assert len(runs) <= len(logged) / min(limit, len(logged)) + 2 * math.log2(limit) + 1, runs
    assert max(runs) < 2 * limit + 100, runs
    assert log.perhaps("certificates", ["K1"]).tolist() == [False]  # another kind's log
    some = [keylog.key_hash(f"K{n}") for n in (1, 2, 3, 4999)]
    assert log.entries("enterprises", some) == [
        (keylog.key_hash(k), f, r) for k, f, r in logged if keylog.key_hash(k) in some
    ]


@pytest.fixture(
    params=[(False, 500_000), (True, 500_000), (True, 1)],
    ids=["hashes", "one hash for every key", "one hash, settled a row at a time"],
)
def clash(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Every test below runs with the log's own hashes and with one hash for every key, where
    each key after the first is a match to be confirmed (the rows held settled all at once, and
    one at a time, each reading the files again), and expects the same answers."""
    clash, settle_rows = request.param
    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    monkeypatch.setattr(importer, "SETTLE_ROWS", settle_rows)
    if clash:
        monkeypatch.setattr(keylog, "key_hash", lambda key: 7)
    return bool(clash)


def test_a_reimport_of_a_set_writes_what_changed(
    engine: sa.Engine, tmp_path: Path, clash: bool
) -> None:
    """A re-import logs every key: with the hashes clashing, every row is held back to the end
    of its file and settled there, and the set imports exactly as it does otherwise."""
    ents = enterprises_file(tmp_path / "e1.csv", [enterprise_row(n) for n in range(1, 7)])
    certs = certificates_file(tmp_path / "c1.csv", [certificate_row(n, n) for n in range(1, 7)])
    with session_scope(engine) as session:
        import_files(session=session, files=[("enterprises", ents), ("certificates", certs)])
    ents = enterprises_file(
        tmp_path / "e2.csv",
        [enterprise_row(n, **({"name": f"改名{n}"} if n in (2, 5) else {})) for n in range(1, 9)],
    )
    moved = [certificate_row(n, 7 if n == 3 else n) for n in range(1, 7)]
    certs = certificates_file(tmp_path / "c2.csv", [*moved, certificate_row(9, 8)])
    with session_scope(engine) as session:
        results = import_files(
            session=session, files=[("enterprises", ents), ("certificates", certs)]
        )
    assert [(r.inserted, r.updated, r.unchanged) for r in results] == [(2, 2, 4), (1, 1, 5)]
    history = dump(engine)["registry_change"]
    changes = sorted((h[2], h[3], h[4]) for h in history[12:])  # table, row key, op
    assert changes == sorted(
        [
            ("certificate", "CQC|2024010700000003", "update"),
            ("certificate", "CQC|2024010700000009", "insert"),
            *(("enterprise", code(n), "update") for n in (2, 5)),
            *(("enterprise", code(n), "insert") for n in (7, 8)),
        ]
    )
    with session_scope(engine) as session:
        stored = current_rows(session=session, kind="certificates")
        names = current_rows(session=session, kind="enterprises")
    assert stored[("CQC", "2024010700000003")]["credit_code"] == code(7)
    assert stored[("CQC", "2024010700000009")]["credit_code"] == code(8)
    assert [names[(code(n),)]["name"] for n in (2, 5)] == ["改名2", "改名5"]


def test_a_first_import_names_the_repeats_of_a_row_it_left_unwritten(
    engine: sa.Engine, tmp_path: Path, clash: bool
) -> None:
    """A first import logs only the rows it leaves unwritten (here a certificate naming an
    enterprise nobody registered): a later row with that key is named as its repeat, and the
    rows between, held back when every key shares a hash, are not."""
    ents = enterprises_file(tmp_path / "e.csv", [enterprise_row(1)])
    with session_scope(engine) as session:
        import_files(session=session, files=[("enterprises", ents)])
    rows = [
        certificate_row(1, 1),
        certificate_row(2, 99),  # row 3: no such enterprise
        certificate_row(3, 1),
        certificate_row(2, 99),  # row 5: repeats row 3
        certificate_row(3, 1),  # row 6: repeats row 4 (held with it when the hashes clash)
        certificate_row(2, 1),  # row 7: repeats row 3
        certificate_row(4, 1),
    ]
    certs = certificates_file(tmp_path / "c.csv", rows)
    before = dump(engine)
    with pytest.raises(ImportRejected) as info, session_scope(engine) as session:
        import_files(session=session, files=[("certificates", certs)])
    assert dump(engine) == before
    assert [str(p) for p in info.value.problems] == [
        f"{certs}:3: credit_code: no enterprise {code(99)} in the registry or earlier in this "
        "import",
        f"{certs}:5: number: duplicate key CQC|2024010700000002 (first on row 3)",
        f"{certs}:6: number: duplicate key CQC|2024010700000003 (first on row 4)",
        f"{certs}:7: number: duplicate key CQC|2024010700000002 (first on row 3)",
    ]


def test_a_repeat_across_two_files_is_named_with_the_first(
    engine: sa.Engine, tmp_path: Path, clash: bool
) -> None:
    """On a re-import the log's rows may be in an earlier file of the set: read again there."""
    seed = enterprises_file(tmp_path / "seed.csv", [enterprise_row(9)])
    with session_scope(engine) as session:
        import_files(session=session, files=[("enterprises", seed)])
    a = enterprises_file(tmp_path / "a.csv", [enterprise_row(n) for n in (1, 2, 3, 9)])
    b = enterprises_file(
        tmp_path / "b.csv", [enterprise_row(4), enterprise_row(2, name="重复"), enterprise_row(4)]
    )
    with pytest.raises(ImportRejected) as info, session_scope(engine) as session:
        import_files(session=session, files=[("enterprises", a), ("enterprises", b)])
    assert [str(p) for p in info.value.problems] == [
        f"{b}:3: credit_code: duplicate key {code(2)} (first on row 3 of {a})",
        f"{b}:4: credit_code: duplicate key {code(4)} (first on row 2)",
    ]


def test_a_reference_names_a_kind_read_earlier_that_names_nothing() -> None:
    """References are looked up in the tables alone (``importer._check_references``): that
    holds while each target kind is imported before the kinds naming it and names nothing
    itself, so that each of its good rows is written before they are read."""
    for kind in KINDS.values():
        for ref in kind.references:
            assert IMPORT_ORDER.index(ref.target) < IMPORT_ORDER.index(kind.name)
            assert not KINDS[ref.target].references, (kind.name, ref.target)


def test_a_second_file_of_a_first_import_repeats_a_row_the_first_left_unwritten(
    engine: sa.Engine, tmp_path: Path, clash: bool
) -> None:
    """Two certificate files of one first import: the second goes in trusting the table's keys
    (in a savepoint), and its repeat of a row the first file left unwritten (its enterprise is
    not registered) is held, settled by reading the first file again, and named with it; the
    rows held with it when every key shares a hash are written and the set's answer is the
    same."""
    ents = enterprises_file(tmp_path / "e.csv", [enterprise_row(n) for n in (1, 2)])
    with session_scope(engine) as session:
        import_files(session=session, files=[("enterprises", ents)])
    a = certificates_file(
        tmp_path / "a.csv", [certificate_row(1, 1), certificate_row(2, 99), certificate_row(3, 1)]
    )
    b = certificates_file(
        tmp_path / "b.csv", [certificate_row(4, 2), certificate_row(2, 1), certificate_row(5, 2)]
    )
    before = dump(engine)
    with pytest.raises(ImportRejected) as info, session_scope(engine) as session:
        import_files(session=session, files=[("certificates", a), ("certificates", b)])
    assert dump(engine) == before
    assert [str(p) for p in info.value.problems] == [
        f"{a}:3: credit_code: no enterprise {code(99)} in the registry or earlier in this import",
        f"{b}:3: number: duplicate key CQC|2024010700000002 (first on row 3 of {a})",
    ]
