"""Registry import benchmark: N enterprises (+ their certificates) into SQLite and PostgreSQL,
each figure beside its *floor*, measured in the same run:

* parse + validate   vs  ``csv.reader`` over the same two files (no checks at all);
* first import       vs  ``csv.reader`` + the DBAPI (``sqlite3`` ``executemany``; psycopg
                         ``COPY`` on PostgreSQL) writing the same rows into the same tables with
                         the same history rows (one ``registry_change`` per row, its ``after``
                         the row as JSON), in one transaction;
* re-import          vs  ``csv.reader`` + the DBAPI reading the stored rows of each chunk of the
  (no changes)           file by key and comparing them with the file's (nothing to write).

    .venv/bin/python bench/bench_import.py [--enterprises 1000000] [--postgres-url URL]

PostgreSQL comes from ``--postgres-url`` or ``SHUANGSUI_BENCH_POSTGRES_URL`` (falling back to
``SHUANGSUI_TEST_POSTGRES_URL``); databases ``shuangsui_bench_registry`` (and ``..._floor``) are
created on that server and dropped afterwards. Each measurement runs in a fresh subprocess so
its peak RSS (``ru_maxrss``) is its own; on PostgreSQL the backend's CPU seconds are read from
``/proc`` as well (the server on this machine), since a ``COPY``'s work is mostly the server's.
Seconds and CPU seconds are both those of the timed work (CPU by ``time.process_time``):
starting the interpreter and importing SQLAlchemy and numpy, which a lean floor does not pay,
are in neither. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KINDS = ("enterprises", "certificates")
BENCH_DB = "shuangsui_bench_registry"


def _usage() -> dict[str, float]:
    """Peak memory, and the CPU of the whole process: starting the interpreter and importing
    the libraries included, which a child's own ``cpu_seconds`` (the timed work only, as its
    ``seconds``) leaves out."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "process_cpu_seconds": usage.ru_utime + usage.ru_stime,
    }


def _server_cpu(pid: int) -> float:
    """CPU seconds of the PostgreSQL backend ``pid`` so far (user + system, from ``/proc``):
    the server's share of an import, which the client's own CPU seconds leave out. NaN when
    the server is not on this machine (or its ``/proc`` entry is not readable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_parse(data: Path) -> dict[str, float]:
    """Parse + validate both files (header, cells, credit codes, divisions, duplicates)."""
    from registry import uscc
    from registry.divisions import divisions
    from registry.importer import CHUNK_ROWS, batched
    from registry.io import inspect_source, read_rows
    from registry.schema import KINDS as SPECS
    from registry.schema import row_key
    from registry.validate import RowValidator

    start, cpu = time.perf_counter(), time.process_time()
    rows = bad = 0
    whitelist = uscc.load_whitelist()
    for kind in KINDS:
        spec = SPECS[kind]
        src = inspect_source(data / f"{kind}.csv")
        validator = RowValidator(spec, src.path.name, divisions(), whitelist)
        it = read_rows(src)
        validator.read_header(next(it)[1])
        seen: dict[str, int] = {}
        for chunk in batched(it, CHUNK_ROWS):  # as the importer reads: a chunk at a time
            for number, row, problems in validator.parse_rows(chunk):
                rows += 1
                bad += bool(problems)
                if not problems:
                    seen.setdefault(row_key(spec.key_of(row)), number)
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "rows": rows,
        "bad": bad,
    }


def child_floor_parse(data: Path) -> dict[str, float]:
    """The floor under parse + validate: ``csv.reader`` over the same files, nothing checked."""
    start, cpu = time.perf_counter(), time.process_time()
    rows = 0
    for kind in KINDS:
        with (data / f"{kind}.csv").open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            for _ in reader:
                rows += 1
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "rows": rows,
    }


# The floor's idea of each file: the column names (the generated header), which are booleans,
# and the natural key; everything else is written as the text the file holds.
FLOOR_TABLES = {
    "enterprises": ("enterprise", {"abnormal_listed", "serious_violation"}, ("credit_code",)),
    "certificates": ("certificate", set(), ("body", "number")),
}


@contextmanager
def _floor_file(data: Path, kind: str):  # type: ignore[no-untyped-def]
    """The floor's reading of one file: its ``csv.reader`` past the header, the header, which
    columns are booleans and where the natural key's columns are."""
    _, bools, key = FLOOR_TABLES[kind]
    with (data / f"{kind}.csv").open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        yield reader, header, [n in bools for n in header], [header.index(k) for k in key]


def _floor_chunks(data: Path, kind: str, at: object, source: str, batch: str, *, ascii: bool):  # type: ignore[no-untyped-def]
    """The rows of one file as (row tuples, history tuples) chunks, read with csv.reader. The
    history's JSON is written as shuangsui writes it: ASCII-escaped on SQLite (``json.dumps``
    defaults), UTF-8 on PostgreSQL."""
    table, _, key = FLOOR_TABLES[kind]
    with _floor_file(data, kind) as (reader, header, flags, at_key):
        rows: list[tuple[object, ...]] = []
        history: list[tuple[object, ...]] = []
        for cells in reader:
            values = [c == "true" if flag else c for c, flag in zip(cells, flags, strict=True)]
            rows.append((*values, at))
            after = json.dumps(dict(zip(header, values, strict=True)), ensure_ascii=ascii)
            history.append(
                (at, table, "|".join(cells[i] for i in at_key), "insert", after, source, batch)
            )
            if len(rows) == FLOOR_CHUNK:
                yield rows, history
                rows, history = [], []
        yield rows, history


FLOOR_CHUNK = 10_000
HISTORY_COLUMNS = ("at", "table_name", "row_key", "op", "after", "source", "batch_id")


def _columns(data: Path, kind: str) -> list[str]:
    with (data / f"{kind}.csv").open(encoding="utf-8-sig", newline="") as fh:
        return [*next(csv.reader(fh)), "updated_at"]


def child_floor_import(url: str, data: Path) -> dict[str, float]:
    """The floor under a first import: the same rows and history rows, csv.reader + DBAPI."""
    import datetime as dt
    import sqlite3

    from shuangsui.db import migrate

    migrate(url)
    at = dt.datetime.now(dt.UTC)
    start, cpu = time.perf_counter(), time.process_time()
    rows = 0
    history_names = ", ".join(HISTORY_COLUMNS)
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split("///", 1)[1])
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        stamp = at.isoformat(" ")  # the text sqlite3 stores for a datetime
        with conn:
            for kind in KINDS:
                table, columns = FLOOR_TABLES[kind][0], _columns(data, kind)
                insert_row = (
                    f"INSERT INTO {table} ({', '.join(columns)}) "
                    f"VALUES ({', '.join('?' * len(columns))})"
                )
                insert_history = (
                    f"INSERT INTO registry_change ({history_names}) "
                    f"VALUES ({', '.join('?' * len(HISTORY_COLUMNS))})"
                )
                for values, history in _floor_chunks(
                    data, kind, stamp, "floor", "floor", ascii=True
                ):
                    conn.executemany(insert_row, values)
                    conn.executemany(insert_history, history)
                    rows += len(values)
        conn.close()
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        u = make_url(url)
        with (
            psycopg.connect(
                host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database
            ) as conn,
            conn.cursor() as cur,
        ):
            server_start = _server_cpu(conn.info.backend_pid)
            for kind in KINDS:
                table, columns = FLOOR_TABLES[kind][0], _columns(data, kind)
                for values, history in _floor_chunks(data, kind, at, "floor", "floor", ascii=False):
                    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in values:
                            copy.write_row(row)
                    with cur.copy(f"COPY registry_change ({history_names}) FROM STDIN") as copy:
                        for row in history:
                            copy.write_row(row)
                    rows += len(values)
            conn.commit()
            server = _server_cpu(conn.info.backend_pid) - server_start
        return {
            "seconds": time.perf_counter() - start,
            "cpu_seconds": time.process_time() - cpu,
            "rows": rows,
            "server_cpu_seconds": server,
        }
    return {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "rows": rows,
    }


FLOOR_DATES = {"issued_on", "expires_on"}  # PostgreSQL returns dates: read as their ISO text
REIMPORT_CHUNK, KEY_CHUNK = 5_000, 2_000  # the importer's chunk of rows and of keys


def child_floor_reimport(url: str, data: Path) -> dict[str, float]:
    """The floor under a re-import of unchanged files: ``csv.reader``, then for each chunk of
    rows the stored rows read by key through the DBAPI (the keys joined with the table on the
    whole key: SQLite ``VALUES``, PostgreSQL ``unnest``) and compared with the file's values.
    Nothing is written; it counts the rows found unchanged (all of them, for the bench's
    files)."""
    from itertools import islice

    sqlite = url.startswith("sqlite")
    if sqlite:
        import sqlite3

        conn: Any = sqlite3.connect(url.split("///", 1)[1])
        pid = None
    else:
        import psycopg
        from sqlalchemy.engine import make_url

        u = make_url(url)
        conn = psycopg.connect(
            host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database
        )
        pid = conn.info.backend_pid
    server_start = _server_cpu(pid) if pid else 0.0
    start, cpu = time.perf_counter(), time.process_time()
    rows = unchanged = 0
    cursor = conn.cursor()
    for kind in KINDS:
        table, _, key = FLOOR_TABLES[kind]
        with _floor_file(data, kind) as (reader, header, flags, at):
            names = ", ".join(
                f"t.{n}::text" if not sqlite and n in FLOOR_DATES else f"t.{n}" for n in header
            )
            on = " AND ".join(f"t.{k} = w.{k}" for k in key)
            while chunk := list(islice(reader, REIMPORT_CHUNK)):
                values = [
                    tuple(c == "true" if flag else c for c, flag in zip(cells, flags, strict=True))
                    for cells in chunk
                ]
                keys = [tuple(v[i] for i in at) for v in values]
                stored: dict[tuple[object, ...], tuple[object, ...]] = {}
                for s in range(0, len(keys), KEY_CHUNK):
                    part = keys[s : s + KEY_CHUNK]
                    if sqlite:
                        marks = ", ".join(f"({', '.join('?' * len(key))})" for _ in part)
                        query = (
                            f"WITH w({', '.join(key)}) AS (VALUES {marks}) "
                            f"SELECT {names} FROM {table} AS t JOIN w ON {on}"
                        )
                        params: Any = [v for k in part for v in k]
                    else:
                        arrays = ", ".join("%s::varchar[]" for _ in key)
                        query = (
                            f"SELECT {names} FROM {table} AS t "
                            f"JOIN unnest({arrays}) AS w({', '.join(key)}) ON {on}"
                        )
                        params = [[k[i] for k in part] for i in range(len(key))]
                    cursor.execute(query, params)
                    for r in cursor.fetchall():
                        stored[tuple(r[i] for i in at)] = r
                unchanged += sum(stored.get(k) == v for k, v in zip(keys, values, strict=True))
                rows += len(values)
    conn.rollback()
    server = _server_cpu(pid) - server_start if pid else 0.0
    conn.close()
    return {
        **({"server_cpu_seconds": server} if pid else {}),
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "rows": rows,
        "unchanged": unchanged,
    }


def child_import(url: str, data: Path) -> dict[str, float]:
    from registry.importer import import_files
    from shuangsui.db import make_engine, migrate, session_scope

    migrate(url)
    engine = make_engine(url)
    start, cpu = time.perf_counter(), time.process_time()
    with session_scope(engine) as session:
        conn = session.connection()
        pid = (
            conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            if url.startswith("postgresql")
            else None
        )
        server_start = _server_cpu(pid) if pid else 0.0
        results = import_files(session=session, files=[(k, data / f"{k}.csv") for k in KINDS])
        session.commit()
        server = _server_cpu(pid) - server_start if pid else 0.0
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    engine.dispose()
    return {
        **({"server_cpu_seconds": server} if pid else {}),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rows": sum(r.rows for r in results),
        "inserted": sum(r.inserted for r in results),
        "unchanged": sum(r.unchanged for r in results),
    }


class _Printing(list):  # type: ignore[type-arg]
    """The results so far; each is printed as soon as it is in, with its ratio to its floor."""

    def append(self, item: tuple[str, dict[str, float]]) -> None:
        name, r = item
        super().append(item)
        floor, floor_cpu = r.get("floor_seconds"), r.get("floor_cpu_seconds")
        ratio = (
            f"{r['seconds'] / floor:>6.2f}x  CPU {r['cpu_seconds'] / floor_cpu:.2f}x"
            if floor
            else ""
        )
        # PostgreSQL: the backend's CPU too, and client + server against the floor's
        server = r.get("server_cpu_seconds")
        if server is not None:
            floor_server = r.get("floor_server_cpu_seconds")
            ratio += f"  server CPU {server:.1f} s"
            if floor and floor_server is not None:
                both = (r["cpu_seconds"] + server) / (floor_cpu + floor_server)
                ratio += f", client + server CPU {both:.2f}x"
        if "unchanged" in r and 0 < r["unchanged"] < r["rows"]:  # a re-import found changes
            ratio += f"  ({int(r['rows'] - r['unchanged'])} rows not unchanged)"
        print(
            f"{name:<40} {int(r['rows']):>10} {r['seconds']:>9.1f} "
            f"{r['rows'] / r['seconds']:>10.0f} {r['cpu_seconds']:>8.1f} "
            f"{r['peak_rss_mib']:>5.0f} MiB {ratio}",
            flush=True,
        )


def run_child(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def generate(data: Path, enterprises: int, seed: int) -> float:
    from registry.generate import generate as gen

    marker = data / f".generated-{enterprises}-{seed}"
    if marker.exists():
        return float(marker.read_text())
    start = time.perf_counter()
    gen(enterprises=enterprises, inspectors=100, seed=seed, out=data)
    seconds = time.perf_counter() - start
    marker.write_text(f"{seconds:.1f}")
    return seconds


def fresh_sqlite(path: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def with_floor(result: dict[str, float], floor: dict[str, float]) -> dict[str, float]:
    out = {**result, "floor_seconds": floor["seconds"], "floor_cpu_seconds": floor["cpu_seconds"]}
    if "server_cpu_seconds" in floor:
        out["floor_server_cpu_seconds"] = floor["server_cpu_seconds"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/shuangsui-bench-import"))
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SHUANGSUI_BENCH_POSTGRES_URL")
        or os.environ.get("SHUANGSUI_TEST_POSTGRES_URL", ""),
    )
    parser.add_argument(
        "--databases", default="sqlite,postgresql", help="which of sqlite,postgresql to run"
    )
    parser.add_argument(
        "--data", type=Path, help="a folder with enterprises.csv and certificates.csv to use"
    )
    parser.add_argument(
        "--no-parse", action="store_true", help="skip the parse + validate runs (no database)"
    )
    parser.add_argument(
        "--no-reimport", action="store_true", help="skip the re-import after the first import"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *rest = args.child
        children = {
            "parse": lambda: child_parse(Path(rest[0])),
            "floor-parse": lambda: child_floor_parse(Path(rest[0])),
            "import": lambda: child_import(rest[0], Path(rest[1])),
            "floor-import": lambda: child_floor_import(rest[0], Path(rest[1])),
            "floor-reimport": lambda: child_floor_reimport(rest[0], Path(rest[1])),
        }
        result = children[mode]()
        result.update(_usage())
        print(json.dumps(result))
        return
    import pg_admin  # here, in the parent: the measured children import only what they use

    if args.data:  # files generated elsewhere (bench_scale.py): not generated again
        data = args.data
        print(f"using the files in {data}", flush=True)
    else:
        data = args.workdir / f"data-{args.enterprises}-{args.seed}"
        data.mkdir(parents=True, exist_ok=True)
        gen_seconds = generate(data, args.enterprises, args.seed)
        print(f"generated {args.enterprises} enterprises in {gen_seconds:.1f} s", flush=True)
    sizes = {k: (data / f"{k}.csv").stat().st_size / 2**20 for k in KINDS}
    print(", ".join(f"{k}.csv {v:.0f} MiB" for k, v in sizes.items()), flush=True)
    databases = args.databases.split(",")

    print(
        f"{'run':<40} {'rows':>10} {'seconds':>9} {'rows/s':>10} {'CPU s':>8} {'peak RSS':>9}"
        "  vs floor"
    )
    results: list[tuple[str, dict[str, float]]] = _Printing()
    if not args.no_parse:
        floor = run_child("floor-parse", str(data))
        results.append(("floor: csv.reader only", floor))
        parse = run_child("parse", str(data))
        results.append(("parse + validate only (no database)", with_floor(parse, floor)))
    args.workdir.mkdir(parents=True, exist_ok=True)
    targets = []
    if "sqlite" in databases:
        targets.append(("SQLite", fresh_sqlite(args.workdir / "bench.db"),
                        fresh_sqlite(args.workdir / "floor.db")))  # fmt: skip
    if "postgresql" in databases and args.postgres_url:
        targets.append(
            ("PostgreSQL", pg_admin.fresh(args.postgres_url, BENCH_DB),
             pg_admin.fresh(args.postgres_url, f"{BENCH_DB}_floor"))
        )  # fmt: skip
    elif "postgresql" in databases:
        print("skip PostgreSQL: set --postgres-url or SHUANGSUI_BENCH_POSTGRES_URL", flush=True)
    try:
        for name, url, floor_url in targets:
            floor = run_child("floor-import", floor_url, str(data))
            results.append((f"{name}: floor (csv.reader + DBAPI)", floor))
            first = run_child("import", url, str(data))
            results.append((f"{name}: first import", with_floor(first, floor)))
            if not args.no_reimport:
                floor = run_child("floor-reimport", floor_url, str(data))
                results.append((f"{name}: floor, re-import (DBAPI)", floor))
                again = run_child("import", url, str(data))
                results.append((f"{name}: re-import (no changes)", with_floor(again, floor)))
    finally:
        if args.postgres_url:
            pg_admin.drop(args.postgres_url, BENCH_DB, f"{BENCH_DB}_floor")

    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
