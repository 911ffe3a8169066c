"""Bulk import of registry files: validate everything, write nothing unless every row is good.

Rows are parsed and validated in plain Python, compared in chunks against the existing rows
fetched by key, and written with SQLAlchemy Core (``executemany``; ``COPY`` on PostgreSQL) in the
caller's transaction. As soon as one bad row is seen history stops being written, validation goes
on to count every bad row (naming the first 1,000 found: ``shuangsui.errors.ProblemLog``), the
transaction is rolled back and :class:`ImportRejected` is raised.
Re-importing a file changes nothing and records no history.

Memory stays nearly flat: the good rows are written as they come (also after a bad row, until
the rollback), so the tables themselves answer whether a key was seen earlier in the import set and
whether a reference resolves. They answer by their constraints: a first import writes each file
in a savepoint and looks keys up only in a file the primary or a foreign key refused, read again
(:func:`_import_one`). A file whose table already held rows logs its keys instead, as hashes in
memory (:class:`registry.keylog.KeyLog`): a key found in the table may be an old row or an
earlier row of the file, which the table cannot tell apart. A row whose key's hash was logged
before is held back to the end of its file and settled there by reading the rows the hash
points at again (:func:`_settle`). That log is what grows with a file, 16 bytes a key (and,
while a file that repeats many of its rows is settled, the keys read again to name them).
Import sets take turns: each first takes the registry's write lock (PostgreSQL: an advisory lock
held to the end of its transaction; SQLite: ``BEGIN IMMEDIATE``), before it reads anything, so
a second set started meanwhile compares its rows with what the first committed (the same file
imported twice at once: the second finds every row unchanged, never "duplicate" rows).
The import runs with Python's cyclic collector paused (``shuangsui.collector``), so nothing
of a chunk may be left in a reference cycle: it would stay until the import ends
(``tests/registry/test_import_failures.py`` checks that none is).
"""

from __future__ import annotations

import logging
import uuid
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, islice, takewhile
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session

from registry import keylog, uscc
from registry.divisions import divisions
from registry.history import CHANGES
from registry.io import SourceFile, inspect_source, part_bound, read_rows
from registry.models import RegistryImport
from registry.reader import rows_by_key
from registry.schema import IMPORT_ORDER, KINDS, Kind, row_key, values_of
from registry.validate import RowValidator
from registry.writer import bulk_insert, bulk_update
from shuangsui.collector import collector_paused
from shuangsui.errors import ProblemLog, RowProblem, UserError
from shuangsui.files import kill_point

logger = logging.getLogger(__name__)
T = TypeVar("T")
Key = tuple[str, ...]  # a row's natural key, its fields' values in the kind's order
Good = tuple[int, Key, dict[str, Any]]  # a good row: its number, key and canonical values

CHUNK_ROWS = 5_000
SETTLE_ROWS = 500_000  # held rows settled per reading of the files again (``_settle``)
SQLITE_CACHE_KIB = 256 * 1024  # index pages of a million-row table stay in memory
ANALYZE_FROM = 10_000  # PostgreSQL: rows written into a table before its statistics are taken
LOCK_KEY = 0x5353_5247  # "SSRG": the advisory lock of an import set (PostgreSQL)
FOLDER_HINT = " (`registry import all` takes a folder)"  # said to a folder given as a file

Changed = tuple[dict[str, Any], dict[str, Any]]  # a row an import set changed: before, after
# by kind: what runs, in the set's transaction once every row is good, with the rows of that
# kind the set changed (an upper room's hook: ``notifications.readdress`` sends an inspector's
# messages not yet left to the address an import corrected). Only a kind named here keeps
# its changed rows in memory.
after_update_hooks: dict[str, list[Callable[[Session, list[Changed]], None]]] = {}


@dataclass
class ImportResult:
    kind: str
    file: str
    source: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class _SetState:
    """What one import set (one transaction, one batch) has seen so far."""

    now: datetime
    batch_id: str
    whitelist: dict[str, uscc.WhitelistEntry]
    keys: keylog.KeyLog = field(default_factory=keylog.KeyLog)
    problems: ProblemLog = field(default_factory=ProblemLog)
    empty_before: dict[str, bool] = field(default_factory=dict)  # kind -> table was empty
    updated: dict[str, list[Changed]] = field(default_factory=dict)  # kinds with a hook
    analyzed: dict[str, int] = field(default_factory=dict)  # kind -> rows written at ANALYZE

    @property
    def writing(self) -> bool:
        return not self.problems


def import_file(
    *,
    session: Session,
    kind: str,
    path: Path,
    now: datetime | None = None,
    batch_id: str | None = None,
    whitelist_path: Path | None = None,
) -> ImportResult:
    """Import one file of ``kind``; see :func:`import_files`."""
    return import_files(
        session=session,
        files=[(kind, path)],
        now=now,
        batch_id=batch_id,
        whitelist_path=whitelist_path,
    )[0]


@collector_paused()
def import_files(
    *,
    session: Session,
    files: Sequence[tuple[str, Path]],
    now: datetime | None = None,
    batch_id: str | None = None,
    whitelist_path: Path | None = None,
) -> list[ImportResult]:
    """Import an import set: several files in dependency order as one batch.

    A certificate may name an enterprise from an earlier file of the same set. Any bad row in
    any file rejects the whole set: the session is rolled back and :class:`ImportRejected`
    names the bad rows (the first 1,000 found) and counts them all. An import that fails for any
    other reason is rolled back too before the error goes on. The caller commits on success.
    """
    for kind, _ in files:
        if kind not in KINDS:
            raise UserError(f"unknown registry kind {kind!r}; one of {', '.join(KINDS)}")
    state = _SetState(
        now=now or datetime.now(UTC),
        batch_id=batch_id or uuid.uuid4().hex,
        whitelist=uscc.load_whitelist(whitelist_path or uscc.WHITELIST_CSV),
    )
    ordered = sorted(files, key=lambda f: IMPORT_ORDER.index(f[0]))
    with _sqlite_cache(session, SQLITE_CACHE_KIB):
        try:
            _take_turn(session)
            results = []
            for i, (kind, path) in enumerate(ordered):
                results.append(_import_one(session, KINDS[kind], path, state))
                if i + 1 == len(ordered) or ordered[i + 1][0] != kind:
                    state.keys.forget(kind)  # the kind's last file: nothing can repeat its keys
            for kind, changed in state.updated.items() if not state.problems else ():
                for hook in after_update_hooks.get(kind, []):
                    hook(session, changed)
        except BaseException:  # half an import set: never left for a caller to commit
            session.rollback()
            raise
        if state.problems:
            session.rollback()
            position = {str(path): i for i, (_, path) in enumerate(ordered)}
            # Stable: within a row, problems keep their column order.
            raise state.problems.rejected(lambda p: (position.get(p.file, 0), p.row))
    if any(r.rows for r in results):  # a set without a row (no conflicts, lists not held
        # yet) checked nothing: the registry is no fresher for it
        session.add(
            RegistryImport(
                batch_id=state.batch_id,
                at=state.now,
                files=[
                    {"kind": r.kind, "file": Path(r.file).name, "rows": r.rows} for r in results
                ],
            )
        )
        session.flush()
    kill_point("registry-import", "before-commit")  # crash tests: all written, not committed
    for r in results:
        logger.info(
            "imported %s from %s: %d inserted, %d updated, %d unchanged",
            r.kind,
            r.file,
            r.inserted,
            r.updated,
            r.unchanged,
        )
    return results


@contextmanager
def _sqlite_cache(session: Session, kib: int) -> Iterator[None]:
    """SQLite's page cache at ``kib`` for an import set, then as it was, so that a pooled
    connection does not keep an import's cache after it (unless the import was rolled back,
    which has already given the connection back)."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{kib}")
    try:
        yield
    finally:
        if not conn.closed:  # on the driver's connection: through ``conn`` it would begin a
            # transaction after a rejected set's rollback, which a session bound to ``conn``
            # would then join, and whose commit would commit nothing
            raw = conn.connection.driver_connection
            raw.execute(f"PRAGMA cache_size={int(before or 0)}")  # type: ignore[union-attr]


def _take_turn(session: Session) -> None:
    """Wait until no other import set is writing, and keep others waiting until this one's
    transaction ends. On SQLite a set that found the database busy for the whole busy timeout
    is a :class:`UserError` (the other writer is named as likely another import)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        return
    if conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
        return  # the caller's transaction: it holds or will take the write lock itself
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except sa.exc.OperationalError as exc:
        if "locked" not in str(exc.orig):
            raise
        raise UserError(
            "the database is busy with another writer (another registry import?); "
            "nothing was imported: try again when it has finished"
        ) from None


def _import_one(session: Session, spec: Kind, path: Path, state: _SetState) -> ImportResult:
    src = inspect_source(path, folder_hint=FOLDER_HINT)
    name = str(path)
    result = ImportResult(spec.name, name, src.source)
    validator = RowValidator(spec, name, divisions(), state.whitelist, state.now.date())
    rows = read_rows(src, max_part_bytes=part_bound(src))
    header = next(rows, None)
    if header is None:
        state.problems.append(RowProblem(name, 1, "header", "empty file: no header row"))
        return result
    header_problems = validator.read_header(header[1])
    state.problems.extend(header_problems)
    if any(col.required and col.name not in validator.fields for col in spec.columns):
        # without a column every row needs (its key's or another), the rows can be neither
        # looked up nor written: they are not read; the header's problem names the column
        return result
    # A table empty before the set's first file of this kind holds only rows of this import:
    # nothing to fetch and compare; a key already there is an earlier row of the file.
    conn = session.connection()
    empty = conn.execute(sa.select(sa.literal(1)).select_from(spec.table).limit(1)).first()
    state.empty_before.setdefault(spec.name, empty is None)  # its first file of the set
    first = next(rows, None)
    if first is None and empty is not None and not (spec.may_be_empty or header_problems):
        # a file of a list the registry holds, cut short (an export that failed, say): refused,
        # lest the set count as a fresh registry (rounds.preflight) while it refreshed nothing.
        # An empty list's file (its export) reads back as it is. A problem of the set like
        # any other, so the other files' problems are named with it.
        reason = "none below the header (a file cut short? rows absent from a file are kept)"
        state.problems.append(RowProblem(name, 2, "rows", reason))
        return result
    rows = chain([first] if first else [], rows)
    if not state.empty_before[spec.name]:
        _write_chunks(session, spec, src, rows, validator, state, result, trusting=False)
    else:
        # Written as it is, in one savepoint: the table's primary key and foreign keys check
        # every row as it goes in, and nothing is looked up. A file they refuse (a duplicate
        # of an earlier chunk, a reference that does not resolve: a rejected import either
        # way) is rolled back to the savepoint and read again with the look-ups, which name
        # each bad row. One savepoint per file, not per chunk: PostgreSQL keeps the first 64
        # subtransactions of a transaction in shared memory, and other sessions pay for more.
        mark = state.problems.count
        try:
            with _savepoint(session):
                _write_chunks(session, spec, src, rows, validator, state, result, trusting=True)
        except sa.exc.IntegrityError as refused:
            logger.debug("%s refused (%s); read again with look-ups", src.path, refused.orig)
            state.problems.forget_since(mark)
            result = ImportResult(spec.name, name, src.source)
            rows = read_rows(src, max_part_bytes=part_bound(src))
            next(rows)  # the header, read above
            _write_chunks(session, spec, src, rows, validator, state, result, trusting=False)
    _keep_statistics(conn, spec, state, result, growing=False)
    return result


def _write_chunks(
    session: Session,
    spec: Kind,
    src: SourceFile,
    rows: Iterator[tuple[int, list[str]]],
    validator: RowValidator,
    state: _SetState,
    result: ImportResult,
    *,
    trusting: bool,
) -> None:
    """Validate the file's rows a chunk at a time, a column at a time, and write the good ones.
    ``trusting``: into a table empty before this import set, without looking keys up (the
    table's keys refuse a bad row: :class:`sqlalchemy.exc.IntegrityError`)."""
    name = str(src.path)
    held = _Held()
    for chunk in batched(rows, CHUNK_ROWS):
        result.rows += len(chunk)
        good: list[Good] = []
        for number, row, problems in validator.parse_rows(chunk):
            if problems:
                state.problems.extend(problems)
            else:
                good.append((number, spec.key_of(row), row))
        in_chunk: dict[Key, int] = {}
        for number, key, _ in good:
            in_chunk.setdefault(key, number)
        keys = list(in_chunk)
        if state.empty_before[spec.name]:  # only rows left unwritten are logged
            seen = state.keys.perhaps(spec.name, keys)
        else:  # every key is logged: the table cannot tell old rows from the file's
            seen = state.keys.add(spec.name, name, keys, list(in_chunk.values()))
        perhaps = {keys[i] for i in seen.nonzero()[0]}
        buffer = good
        if perhaps or len(in_chunk) < len(good):  # a key seen before, or twice in the chunk
            buffer = []
            for number, key, row in good:
                if key in perhaps:  # seen before, or a clash of hashes: decided at the end
                    held.add(number, key)
                elif in_chunk[key] == number:
                    buffer.append((number, key, row))
                else:
                    state.problems.append(
                        _duplicate(name, number, spec, key, (name, in_chunk[key]))
                    )
        _write(session, spec, src, buffer, validator, state, result, trusting=trusting)
        kill_point("registry-import", f"{spec.name}:{result.rows}")  # crash tests: mid-file
    if held.rows:
        _settle(session, spec, src, held, validator, state, result, trusting=trusting)


def _write(
    session: Session,
    spec: Kind,
    src: SourceFile,
    buffer: list[Good],
    validator: RowValidator,
    state: _SetState,
    result: ImportResult,
    *,
    trusting: bool,
) -> None:
    """Write the rows of ``buffer``, whose keys are not repeats of earlier rows of the set
    as far as the key log can tell."""
    if not buffer:
        return
    if trusting:
        _flush(session, spec, buffer, state, result, looked_up=False)
        return
    conn = session.connection()
    _keep_statistics(conn, spec, state, result, growing=True)
    if state.empty_before[spec.name]:
        buffer = _drop_written(conn, spec, buffer, state, src, validator)
    _flush(session, spec, buffer, state, result)


@dataclass
class _Held:
    """The rows of a file whose key's hash the key log held before: their numbers and hashes
    (12 bytes a row, not the rows: a file that repeats another can hold millions)."""

    rows: array[int] = field(default_factory=lambda: array("q"))
    hashes: array[int] = field(default_factory=lambda: array("q"))

    def add(self, number: int, key: Key) -> None:
        self.rows.append(number)
        self.hashes.append(keylog.key_hash(key))


def _settle(
    session: Session,
    spec: Kind,
    src: SourceFile,
    held: _Held,
    validator: RowValidator,
    state: _SetState,
    result: ImportResult,
    *,
    trusting: bool,
) -> None:
    """Decide the rows of the file held back because their key's hash was logged before. A
    held row repeats the first earlier row, logged or held, that has its very key (the log's
    rows sharing its hash are read again, each file once, this one last, as it goes) and is
    otherwise new, and written now. Their history comes after the file's other rows; on a good
    import only a clash of 64-bit hashes holds a row back. The held rows are settled
    ``SETTLE_ROWS`` at a time, in file order, so that a file repeating millions of its rows
    holds the keys of that many at most (and is read again once per part)."""
    new: dict[Key, int] = {}  # key -> the held row found new with it
    for start in range(0, len(held.rows), SETTLE_ROWS):
        part = slice(start, start + SETTLE_ROWS)
        rows, hashes = held.rows[part], held.hashes[part]
        _settle_part(session, spec, src, rows, hashes, new, validator, state, result, trusting)


def _settle_part(
    session: Session,
    spec: Kind,
    src: SourceFile,
    rows: Sequence[int],
    row_hashes: Sequence[int],
    new: dict[Key, int],
    validator: RowValidator,
    state: _SetState,
    result: ImportResult,
    trusting: bool,
) -> None:
    """:func:`_settle` for the held ``rows`` (ascending) with their keys' hashes."""
    name = str(src.path)
    order = {file: i for i, file in enumerate(state.keys.files)}
    here = order.get(name, len(order))
    last = rows[-1]
    logged: dict[int, list[tuple[str, int]]] = defaultdict(list)  # hash -> (file, row), in order
    wanted: dict[str, set[int]] = defaultdict(set, {name: set(rows)})
    for h, file, n in state.keys.entries(spec.name, row_hashes):
        if file != name or n < last:  # a later row of this file is no held row's first
            logged[h].append((file, n))
            wanted[file].add(n)
    keys = {  # (file, row) -> key, of the log's rows, read from the files before this one
        (file, number): spec.key_of(row)
        for file in sorted(wanted, key=lambda f: order.get(f, len(order)))
        if file != name
        for number, row in _rows_at(Path(file), spec, state, wanted[file])
    }
    hashes = dict(zip(rows, row_hashes, strict=True))
    buffer: list[Good] = []
    for number, row in _rows_at(src.path, spec, state, wanted[name]):
        key = spec.key_of(row)
        keys[name, number] = key
        if number not in hashes:
            continue
        earlier = [
            (file, n)
            for file, n in logged[hashes[number]]
            if (order.get(file, here), n) < (here, number) and keys[file, n] == key
        ]
        first = earlier[0] if earlier else (name, new[key]) if key in new else None
        if first is not None:
            state.problems.append(_duplicate(name, number, spec, key, first))
            continue
        new[key] = number
        buffer.append((number, key, row))
        if len(buffer) == CHUNK_ROWS:
            _write(session, spec, src, buffer, validator, state, result, trusting=trusting)
            buffer = []
    _write(session, spec, src, buffer, validator, state, result, trusting=trusting)


def _rows_at(
    path: Path, spec: Kind, state: _SetState, numbers: set[int]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """The canonical rows on ``numbers`` of a file of ``spec``'s kind, read again, in order."""
    validator = RowValidator(spec, str(path), divisions(), state.whitelist, state.now.date())
    src = inspect_source(path, folder_hint=FOLDER_HINT)
    rows = read_rows(src, max_part_bytes=part_bound(src))
    validator.read_header(next(rows)[1])
    last = max(numbers)
    chosen = (r for r in takewhile(lambda r: r[0] <= last, rows) if r[0] in numbers)
    for chunk in batched(chosen, CHUNK_ROWS):
        for number, row, _ in validator.parse_rows(chunk):
            yield number, row


def _savepoint(session: Session) -> SessionTransaction:
    """A savepoint in the session's transaction. pysqlite opens its transaction only before
    the first write, and a SAVEPOINT outside a transaction starts one that its RELEASE would
    commit: on SQLite the transaction is opened first, as pysqlite itself would."""
    _begin(session.connection())
    return session.begin_nested()


def _begin(conn: sa.Connection) -> None:
    """Open pysqlite's transaction now if it has not opened it yet (it does so only before a
    write), so that what comes next is inside it."""
    raw = conn.connection.driver_connection
    if conn.dialect.name == "sqlite" and not raw.in_transaction:  # type: ignore[union-attr]
        conn.exec_driver_sql("BEGIN")


def _keep_statistics(
    conn: sa.Connection, spec: Kind, state: _SetState, result: ImportResult, *, growing: bool
) -> None:
    """PostgreSQL plans the key lookups from its statistics, which rows written in this
    transaction are not in yet: without them it chose to read the whole table for every chunk
    of keys (a re-import of a million enterprises took 374 s). Before keys are looked up, the
    table is analyzed if the rows written into it have doubled since the last time, and once
    more at the end of the file (for the next import), as soon as there are ``ANALYZE_FROM``
    of them."""
    written = result.inserted + result.updated
    last = state.analyzed.get(spec.name, 0)
    due = written >= 2 * max(last, ANALYZE_FROM // 2) if growing else written > last
    if conn.dialect.name == "postgresql" and written >= ANALYZE_FROM and due:
        conn.exec_driver_sql(f'ANALYZE "{spec.table.name}"')
        state.analyzed[spec.name] = written


def _duplicate(
    file: str, number: int, spec: Kind, key: Key, first: tuple[str, int] | None
) -> RowProblem:
    if first is None:
        where = "first in an earlier file of this import"
    elif first[0] == file:
        where = f"first on row {first[1]}"
    else:
        where = f"first on row {first[1]} of {first[0]}"
    return RowProblem(file, number, spec.key[-1], f"duplicate key {row_key(key)} ({where})")


def _drop_written(
    conn: sa.Connection,
    spec: Kind,
    buffer: list[Good],
    state: _SetState,
    src: SourceFile,
    validator: RowValidator,
) -> list[Good]:
    """``buffer`` without the rows whose key an earlier chunk of the file already wrote into
    the (before this file, empty) table; each such row is a duplicate, whose first row is
    found by reading the file again (only on this rare path)."""
    found = _fetch_existing(conn, spec, [key for _, key, _ in buffer], columns=spec.key)
    if not found:
        return buffer
    name = str(src.path)
    first = _first_rows(src, spec, validator, set(found))
    for number, key, _ in buffer:
        if key in found:
            earlier = key in first and first[key] < number  # else first in an earlier file
            state.problems.append(
                _duplicate(name, number, spec, key, (name, first[key]) if earlier else None)
            )
    return [good for good in buffer if good[1] not in found]


def _first_rows(
    src: SourceFile, spec: Kind, validator: RowValidator, keys: set[Key]
) -> dict[Key, int]:
    """The row on which each of ``keys`` first appears on a good row of the file."""
    first: dict[Key, int] = {}
    rows = read_rows(src, max_part_bytes=part_bound(src))
    next(rows)  # the header
    for chunk in batched(rows, CHUNK_ROWS):
        for number, row, problems in validator.parse_rows(chunk):
            key = spec.key_of(row) if not problems else ()
            if key in keys and key not in first:
                first[key] = number
        if len(first) == len(keys):
            break
    return first


def batched(items: Iterator[T], size: int) -> Iterator[list[T]]:
    """Lists of up to ``size`` items (``itertools.batched`` from Python 3.12)."""
    while chunk := list(islice(items, size)):
        yield chunk


def _flush(
    session: Session,
    spec: Kind,
    buffer: list[Good],
    state: _SetState,
    result: ImportResult,
    *,
    looked_up: bool = True,
) -> None:
    """Write the good rows of ``buffer`` and their history. With ``looked_up`` false the
    references are not looked up: the foreign keys refuse the write if one does not resolve."""
    conn = session.connection()
    existing = (
        {}
        if state.empty_before[spec.name]
        else _fetch_existing(conn, spec, [key for _, key, _ in buffer])
    )
    if looked_up:
        buffer = _check_references(conn, spec, buffer, state, result.file, existing)
    if not buffer:
        return
    defaults = spec.defaults()
    # the stored values of the columns the file gives, in its order (each row of a file has
    # the same columns: those of its header)
    given = _picker(spec.fields, list(buffer[0][2]))
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    changes: list[tuple[str, Key, dict[str, Any] | None, dict[str, Any]]] = []
    for _, key, row in buffer:
        stored = existing.get(key) if existing else None
        if stored is None:
            new = {**defaults, **row}
            inserts.append(new)
            changes.append(("insert", key, None, new))
        elif given(stored) == tuple(row.values()):  # every value the file gives is stored
            result.unchanged += 1
        else:
            old = dict(zip(spec.fields, stored, strict=True))
            new = {**old, **row}
            updates.append(new)
            changes.append(("update", key, old, new))
    if inserts:
        bulk_insert(conn, spec.table, inserts, constants={"updated_at": state.now})
    if updates:
        bulk_update(conn, spec.table, spec.key, [{**r, "updated_at": state.now} for r in updates])
    if updates and state.writing and after_update_hooks.get(spec.name):
        state.updated.setdefault(spec.name, []).extend(
            (old, new) for op, _, old, new in changes if op == "update" and old is not None
        )
    if changes and state.writing:  # a rejected set's rows are written only to look keys up
        bulk_insert(
            conn,
            CHANGES,
            [
                {"row_key": row_key(key), "op": op, "before": before, "after": after}
                for op, key, before, after in changes
            ],
            constants={
                "at": state.now,
                "table_name": str(spec.table_name),  # a plain str: sqlite3 adapts no subclass
                "source": result.source,
                "batch_id": state.batch_id,
            },
        )
    result.inserted += len(inserts)  # counted once written: a refused chunk is written again
    result.updated += len(updates)


def _check_references(
    conn: sa.Connection,
    spec: Kind,
    buffer: list[Good],
    state: _SetState,
    file: str,
    stored: dict[Key, tuple[Any, ...]],
) -> list[Good]:
    """The rows whose references resolve; a problem for each row whose do not. A reference
    a row shares with its ``stored`` row resolves (the foreign keys saw to it when that row was
    written, and nothing is deleted): only new rows and changed references are looked up, in
    the tables alone. A reference's target kind comes earlier in the set and names nothing
    itself, so each of its good rows in the set is written before this file is read, the first
    of a repeated key included (``tests/registry/test_keylog.py`` checks the schema)."""
    bad: set[int] = set()
    for ref in spec.references:
        target = KINDS[ref.target]
        stored_reference = _picker(spec.fields, ref.fields)
        reference = values_of(ref.fields)
        new: list[tuple[int, Key]] = []  # number, reference
        for number, key, row in buffer:
            value = reference(row)
            if (old := stored.get(key)) is None or stored_reference(old) != value:
                new.append((number, value))
        found = set(_fetch_existing(conn, target, {v for _, v in new}, columns=target.key))
        for number, value in new:
            if value not in found:
                bad.add(number)
                state.problems.append(
                    RowProblem(
                        file,
                        number,
                        ref.fields[0],
                        f"no {ref.target[:-1].replace('-', ' ')} {row_key(value)} in the registry "
                        "or earlier in this import",
                    )
                )
    if bad and state.empty_before[spec.name]:  # unwritten: the table cannot name them later
        unwritten = [(key, n) for n, key, _ in buffer if n in bad]
        state.keys.add(spec.name, file, *zip(*unwritten, strict=True))
    return [good for good in buffer if good[0] not in bad]


def _fetch_existing(
    conn: sa.Connection,
    spec: Kind,
    keys: Iterable[Key],
    columns: Sequence[str] | None = None,
) -> dict[Key, tuple[Any, ...]]:
    """The stored values of ``columns`` (by default every field, in the kind's order) of the
    rows with ``keys``, by key, as canonical values."""
    names = tuple(columns or spec.fields)
    key_of = _picker(names, spec.key)
    return {
        key_of(values): values
        for values in rows_by_key(conn, spec.table, spec.key, names, list(keys))
    }


def _picker(
    names: Sequence[str], wanted: Sequence[str]
) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A function that takes the values of ``wanted`` out of values in ``names``' order, as a
    tuple, in one C call."""
    return values_of([names.index(name) for name in wanted])
