"""Engines, sessions and migrations. SQLite is the embedded default; PostgreSQL is production.

Migrations are atomic on both: PostgreSQL has transactional DDL, and on SQLite the migration
engine (:func:`migration_engine`) takes transactions out of pysqlite's hands, so a kill during
the first command on a new data directory leaves an empty database, never half a schema.
A schema an earlier version left half-made (tables but no ``alembic_version``) is repaired if
those tables are empty, refused with one line saying what to do otherwise.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ARRAY,
    Column,
    Connection,
    Dialect,
    Engine,
    Table,
    and_,
    any_,
    bindparam,
    create_engine,
    event,
    false,
    inspect,
    or_,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Select
from sqlmodel import Session

from shuangsui.config import Settings, get_settings, scrub_url
from shuangsui.errors import UserError
from shuangsui.files import private_dir

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _postgres_utc(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    """Every session in UTC. PostgreSQL hands a stored moment back in the session's zone,
    which is the server's unless set: on a server whose TimeZone is Asia/Shanghai (what one
    installed there usually has) a round's ``committed_at`` came back as 17:30+08:00 where
    another server gave 09:30+00:00, and the bundle's round.json, which prints it, differed
    in its bytes for the same round."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True  # a SET in a transaction would end with a rollback
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'UTC'")
    dbapi_connection.autocommit = autocommit


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout, PostgreSQL
    sessions in UTC."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            private_dir(Path(path).parent)  # the data directory: 0700
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
        event.listen(engine, "connect", _postgres_utc, insert=True)
    logger.debug("engine for %s", scrub_url(url))
    return engine


_engines: dict[str, Engine] = {}


def get_engine(settings: Settings | None = None) -> Engine:
    """The process-wide engine for the configured database, created once per URL."""
    url = (settings or get_settings()).resolved_database_url
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]


@contextmanager
def one_moment(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction that sees the database as of its first read (PostgreSQL:
    REPEATABLE READ; SQLite: one read transaction in WAL mode), taking no lock. Reads that must
    agree with one another are made in it: read one by one, each sees what was committed when
    it ran (PostgreSQL's READ COMMITTED; SQLite's driver begins no transaction for a read), so
    a write committed between two of them is half seen (a verification's replacement recorded
    during its re-run of the draw; a registry import committed while a round's commit read its
    frames, whose freshness, read after, counted the import the frames never held)."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")
        else:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        try:
            yield conn
        finally:
            conn.rollback()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on any error."""
    with Session(engine or get_engine(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _sqlite_autocommit(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_connection.isolation_level = None  # pysqlite no longer commits before DDL


def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
    conn.exec_driver_sql("BEGIN IMMEDIATE")  # and a second migrator waits for the first


def migration_engine(url: str, **kwargs: Any) -> Engine:
    """An engine whose transactions hold DDL too. On SQLite this is SQLAlchemy's recipe for
    pysqlite ("Serializable isolation / Savepoints / Transactional DDL"): no implicit
    transaction handling by the driver, ``BEGIN`` emitted by us."""
    engine = make_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_autocommit)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _repair_half_made(url: str) -> None:
    """Tables of ours but no schema version: what a migration killed midway left on SQLite
    before migrations were atomic. Empty tables are dropped (the migration makes them again);
    tables holding rows are refused: guessing their version could lose data."""
    from sqlalchemy import pool

    if not url.startswith("sqlite"):
        return  # PostgreSQL's DDL was always transactional; its database may be shared
    engine = migration_engine(url, poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            names = sorted(inspect(conn).get_table_names())
            if not names or "alembic_version" in names:
                return
            full = [n for n in names if conn.execute(text(f'SELECT 1 FROM "{n}" LIMIT 1')).first()]
            if full:
                raise UserError(
                    f"database {scrub_url(url)} holds tables ({', '.join(full)} with rows) "
                    "but no schema version (alembic_version): restore it from a backup, or "
                    "move it aside and start a new one"
                )
            logger.warning(
                "database %s: %d empty table(s) left by an interrupted first migration and no "
                "schema version; dropping them and migrating again", scrub_url(url), len(names),
            )  # fmt: skip
            for name in names:
                conn.execute(text(f'DROP TABLE "{name}"'))
    finally:
        engine.dispose()


def _at_head(url: str) -> bool:
    """Whether the schema is already at head, read without taking SQLite's write lock (every
    command migrates first; most find nothing to do and must not wait for a busy writer).
    A schema of a revision this program does not know is refused (:func:`_refuse_newer`)."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import pool

    script = ScriptDirectory.from_config(alembic_config(url))
    heads = set(script.get_heads())
    engine = make_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()
    _refuse_newer(url, current - {s.revision for s in script.walk_revisions()}, heads)
    return current == heads


def _refuse_newer(url: str, unknown: set[str], heads: set[str]) -> None:
    """A database at a revision this program has no migration for was migrated by a newer
    shuangsui (a worker not yet upgraded, a program rolled back without its database). Any
    write by this older program could miss the newer columns' rules: refused, unchanged."""
    if unknown:
        raise UserError(
            f"database {scrub_url(url)} has schema revision {', '.join(sorted(unknown))}, "
            f"which this shuangsui does not know (its newest is {', '.join(sorted(heads))}): "
            "a newer shuangsui migrated it; run that version (or restore the backup taken "
            "before the upgrade)"
        )


def schema_revision(url: str) -> str | None:
    """The schema revision the database at ``url`` is at (None: no schema yet), read without
    taking SQLite's write lock."""
    from alembic.migration import MigrationContext
    from sqlalchemy import pool

    engine = make_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def check_upgrade(url: str, revision: str) -> None:
    """Refuse, naming it, a ``revision`` that ``shuangsui db migrate REVISION`` cannot bring
    the schema up to: ``head`` or one of our revisions (``0005``), no later than the one the
    database is at. alembic's own forms (``base``, ``-1``, ``heads``, ``0021@head``) did
    nothing, or ended in its traceback, while the command said the database was at them."""
    from alembic.script import ScriptDirectory

    if revision == "head":
        return
    ours = [s.revision for s in ScriptDirectory.from_config(alembic_config(url)).walk_revisions()]
    if revision not in ours:  # newest first
        raise UserError(
            f"REVISION {revision!r}: not a revision of shuangsui's schema; give head (the "
            f"default) or one of {ours[-1]} … {ours[0]}"
        )
    current = schema_revision(url)
    _refuse_newer(url, {current} - {None, *ours}, {ours[0]})  # type: ignore[arg-type]
    if current in ours and ours.index(revision) > ours.index(current):
        raise UserError(
            f"REVISION {revision}: the database is at {current}, a later revision; db migrate "
            "only upgrades (to go back, restore the backup taken before the upgrade)"
        )


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema at ``url`` up to ``revision`` (in one transaction)."""
    from alembic import command

    if revision == "head" and _at_head(url):
        return
    _repair_half_made(url)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def bind_processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """What SQLAlchemy applies to a value of ``column`` before the driver gets it on
    ``dialect`` (an enumeration's text, JSON, SQLite's text timestamps), or None when the
    driver takes the value as it is: for writers of plain tuples that store what an insert
    through the table would."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def one_of(session: Session | Connection, column: Any, values: Sequence[Any]) -> Any:
    """``column IN (values)`` for a bulk read. On PostgreSQL ``column = ANY(:array)``: one
    parameter, where an expanded IN of a thousand values cost SQLAlchemy and psycopg more
    than the query itself (rendering and splitting a thousand placeholders)."""
    if _dialect(session) == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def rows_of(
    conn: Connection,
    table: Table,
    names: Sequence[str],
    column: str,
    values: Sequence[Any],
    chunk: int = 1000,
) -> list[tuple[Any, ...]]:
    """The rows of ``table`` whose ``column`` is one of ``values`` (the columns ``names``, as
    the driver returns them: for keys, not for a column a type converts), ``chunk`` values a
    statement, in the connection's transaction. PostgreSQL: texts or integers as one JSON
    array a statement, made into rows by the server (``jsonb_array_elements_text``), where
    psycopg wrote an array parameter a value at a time in Python (40 ms of CPU against 8 for
    20,000 entry ids, 17 against 3.5 for 20,000 finding ids: a publish looks up each result it
    records and shares); other values as :func:`one_of`'s array. SQLite: the DBAPI with a
    placeholder a value, where SQLAlchemy's expanding of a thousand values into as many
    parameters cost eight times SQLite's own work (17.5 against 2.2 ms for 20,000 ids)."""
    found: list[tuple[Any, ...]] = []
    quote = conn.dialect.identifier_preparer.quote
    head = f"SELECT {', '.join(map(quote, names))} FROM {quote(table.name)} WHERE {quote(column)}"
    if conn.dialect.name == "postgresql":
        if set(map(type, values)) not in ({str}, {int}):  # (a bool's type is bool, not int)
            columns = [table.c[name] for name in names]
            for i in range(0, len(values), chunk):
                part = values[i : i + chunk]
                found += conn.execute(select(*columns).where(one_of(conn, table.c[column], part)))
            return found
        # each text or integer exactly as JSON writes it, cast to the column's type
        kind = table.c[column].type.compile(dialect=conn.dialect)
        unnested = f"CAST(jsonb_array_elements_text(CAST(%s AS jsonb)) AS {kind})"
        for i in range(0, len(values), chunk):
            part = json.dumps(values[i : i + chunk], ensure_ascii=False)
            found += conn.exec_driver_sql(f"{head} IN (SELECT {unnested})", (part,))
        return found
    for i in range(0, len(values), chunk):
        part = tuple(values[i : i + chunk])
        marks = ", ".join("?" for _ in part)  # SQLite's qmark parameters
        found += conn.exec_driver_sql(f"{head} IN ({marks})", part)
    return found


def of_rounds(
    round_column: Any,
    code_column: Any,
    round_keys: Sequence[str],
    only: Mapping[str, Collection[str]] | None = None,
) -> Any:
    """The rows of the rounds ``round_keys``, but of each round in ``only`` just those whose
    ``code_column`` (a credit code) is one of ``only[round]``: a read of some rounds whole and
    of some firms of others, in one statement."""
    only = only or {}
    whole = [key for key in round_keys if key not in only]
    clauses = [round_column.in_(whole)] if whole else []
    clauses += [
        and_(round_column == key, code_column.in_(sorted(codes)))
        for key, codes in sorted(only.items())
        if key in round_keys and codes
    ]
    return or_(*clauses) if clauses else false()


def plan_each_execution(session: Session | Connection) -> None:
    """Until the end of the transaction, plan each statement for its own parameters and the
    tables as they are (PostgreSQL; nothing elsewhere). For bulk work that fills a table and
    looks it up in one transaction (the partner log appended a chunk at a time): psycopg
    prepares a statement run five times on a connection, PostgreSQL may then keep one
    generic plan for it, and a plan made while a table was empty, kept once the transaction
    has filled it, tests every row against every id looked up (a publish sharing its
    results in chunks took 90 s instead of 4). Not set for every connection: re-planning
    each row of a prepared ``executemany`` costs 3-6 us a row (the draw's notices)."""
    if _dialect(session) == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _dialect(session: Session | Connection) -> str:
    bind = session.get_bind() if isinstance(session, Session) else session
    return bind.dialect.name


def insert_rows(
    conn: Connection, table: Table, names: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Bulk insert of tuples (the values of the columns ``names``, in order) in the
    connection's transaction, with no dict or object per row. PostgreSQL: one ``COPY`` stream
    (psycopg's executemany sends a statement per row, 2-3x slower at 20,000 rows); elsewhere
    the DBAPI's executemany, a column through its type's bind processor where it has one
    (SQLite's text timestamps, as a Core insert would store them). A driver error is raised as
    SQLAlchemy's, as a statement's is (a collision an ``IntegrityError``, which
    ``shuangsui.writes.write`` retries)."""
    if not rows:
        return
    quote = conn.dialect.identifier_preparer.quote  # exchange_node has a column "index"
    columns = ", ".join(map(quote, names))
    if conn.dialect.name == "postgresql":
        sql = f"COPY {quote(table.name)} ({columns}) FROM STDIN"
        dbapi = conn.dialect.loaded_dbapi
        if not conn.in_transaction():  # as a statement of its own would: a rollback undoes it
            conn.begin()
        try:
            with conn.connection.driver_connection.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
                for row in rows:
                    copy.write_row(row)
        except dbapi.Error as exc:  # as a statement's: a collision stays an IntegrityError
            raise DBAPIError.instance(sql, None, exc, dbapi.Error) from exc
        return
    for i, name in enumerate(names):  # a column at a time: most have no processor
        process = bind_processor(table.c[name], conn.dialect)
        if process is not None:
            encode = once_per_object(process)
            rows = [(*row[:i], encode(row[i]), *row[i + 1 :]) for row in rows]
    marks = ", ".join("?" for _ in names)  # SQLite's qmark parameters
    conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})", rows)


def insert_returning_ids(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Insert ``rows`` (mappings of the same columns) into ``table`` in the connection's
    transaction, as a Core insert of them would (a column they leave out takes its scalar
    default, a value goes through its type's bind processor), and return the new rows' ids, in
    the order of ``rows``. A driver error is raised as SQLAlchemy's (an ``IntegrityError``
    stays one).

    PostgreSQL: the ids taken from the table's sequence first, as many as there are rows and
    in the order they were taken (one query), then the rows with them in one ``COPY``: half
    the cost of psycopg's own ``executemany(..., returning=True)``, a result set a row, at
    50,000 leads, and a quarter of SQLAlchemy's thousand-row ``INSERT ... RETURNING``
    statements, whose named placeholders psycopg turned into its own in Python
    (docs/benchmarks.md, "Leads import" and "The leads' intake lock"). SQLite: a statement a
    row on the DBAPI's cursor, each row's id its ``lastrowid``. SQLite's ``RETURNING``
    promises no order, so the Core insert (``sort_by_parameter_order``) sent a statement a
    row too, with SQLAlchemy's parameters and result around each: three times the cost."""
    if not rows:
        return []
    given = list(rows[0])
    defaults = [c for c in table.columns if c.key not in given and c.default is not None]
    if any(not c.default.is_scalar for c in defaults):  # type: ignore[union-attr]
        raise ValueError(f"{table.name}: only a column's scalar default is written here")
    names = [*given, *(c.key for c in defaults)]
    fixed = tuple(c.default.arg for c in defaults)  # type: ignore[union-attr]
    values = [[row[k] for row in rows] for k in given] + [[v] * len(rows) for v in fixed]
    for i, name in enumerate(names):  # a column at a time: most have no processor
        process = bind_processor(table.c[name], conn.dialect)
        if process is not None:
            values[i] = list(map(once_per_object(process), values[i]))
    params = list(zip(*values, strict=True))
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(table.c[name].name) for name in names)
    dbapi = conn.dialect.loaded_dbapi
    if not conn.in_transaction():  # as a statement of its own would: a rollback then undoes it
        conn.begin()
    sql = f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({', '.join('?' for _ in names)})"
    ids: list[int] = []
    try:
        with closing(conn.connection.driver_connection.cursor()) as cursor:  # type: ignore[union-attr]
            if conn.dialect.name != "postgresql":
                for row in params:
                    cursor.execute(sql, row)
                    ids.append(cursor.lastrowid)
                return ids
            sql = "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)"
            cursor.execute(sql, (quote(table.name), len(params)))  # quoted, as it is parsed
            ids = sorted(row[0] for row in cursor.fetchall())
            sql = f"COPY {quote(table.name)} (id, {columns}) FROM STDIN"
            with cursor.copy(sql) as copy:
                for row_id, row in zip(ids, params, strict=True):
                    copy.write_row((row_id, *row))
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, None, exc, dbapi.Error) from exc
    return ids


def once_per_object(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` applied once per distinct object among the values it is given: the rows of
    one write share their moment (a publish's, an append's) or their due date, and SQLite's
    text of a timestamp made for each of 20,000 rows cost a tenth of a second. Keyed by the
    object, not by equality: two equal timestamps in other time zones are stored as other
    text. The values must stay alive while it is used (they are: the rows hold them)."""
    done: dict[int, Any] = {}

    def encode(value: Any) -> Any:
        key = id(value)
        if key not in done:
            done[key] = process(value)
        return done[key]

    return encode


def driver_rows(conn: Connection, statement: Select[Any]) -> list[tuple[Any, ...]]:
    """The rows of ``statement`` (a select) as the driver returns them, fetched at once by its
    cursor, in the connection's transaction: tuples, no SQLAlchemy row or result around each
    (for many rows of text and integers: 6-9 ms of 40-60 for 20,000 rows on SQLite). Its
    parameters and columns are as the driver takes and gives them, so only for a statement
    whose parameters and columns no type converts (text, integers: cast a date to text). A
    driver error is raised as SQLAlchemy's, as a statement's is."""
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    args: Any = params
    if compiled.positional:  # SQLite's qmark parameters, in their order
        args = tuple(params[name] for name in compiled.positiontup or ())
    sql = str(compiled)
    dbapi = conn.dialect.loaded_dbapi
    if not conn.in_transaction():  # as a statement of its own would
        conn.begin()
    try:
        with closing(conn.connection.driver_connection.cursor()) as cursor:  # type: ignore[union-attr]
            cursor.execute(sql, args)
            return cursor.fetchall()  # type: ignore[no-any-return]
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, args, exc, dbapi.Error) from exc
