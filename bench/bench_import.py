"""Registry import benchmark: 1,000,000 enterprises (+ their certificates) into SQLite and
PostgreSQL, against the raw time to parse and validate the same CSV files without a database.

    .venv/bin/python bench/bench_import.py [--enterprises 1000000] [--postgres-url URL]

PostgreSQL comes from ``--postgres-url`` or ``SHUANGSUI_BENCH_POSTGRES_URL`` (falling back to
``SHUANGSUI_TEST_POSTGRES_URL``); a database ``shuangsui_bench_registry`` is created on that
server and dropped afterwards. Each measurement runs in a fresh subprocess so its peak RSS
(``ru_maxrss``) is its own. Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
KINDS = ("enterprises", "certificates")
BENCH_DB = "shuangsui_bench_registry"


def _usage() -> dict[str, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"peak_rss_mib": usage.ru_maxrss / 1024, "cpu_seconds": usage.ru_utime + usage.ru_stime}


def child_parse(data: Path) -> dict[str, float]:
    """Parse + validate both files (header, cells, credit codes, divisions, duplicates)."""
    from registry import uscc
    from registry.divisions import divisions
    from registry.io import inspect_source, read_rows
    from registry.schema import KINDS as SPECS
    from registry.schema import row_key
    from registry.validate import RowValidator

    start = time.perf_counter()
    rows = bad = 0
    whitelist = uscc.load_whitelist()
    for kind in KINDS:
        spec = SPECS[kind]
        src = inspect_source(data / f"{kind}.csv")
        validator = RowValidator(spec, src.path.name, divisions(), whitelist)
        it = read_rows(src)
        validator.read_header(next(it)[1])
        seen: dict[str, int] = {}
        for number, cells in it:
            row, problems = validator.parse(number, cells)
            rows += 1
            bad += bool(problems)
            if not problems:
                seen.setdefault(row_key(spec.key_of(row)), number)
    return {"seconds": time.perf_counter() - start, "rows": rows, "bad": bad}


def child_import(url: str, data: Path) -> dict[str, float]:
    from registry.importer import import_files
    from shuangsui.db import make_engine, migrate, session_scope

    migrate(url)
    engine = make_engine(url)
    start = time.perf_counter()
    with session_scope(engine) as session:
        results = import_files(session=session, files=[(k, data / f"{k}.csv") for k in KINDS])
    seconds = time.perf_counter() - start
    engine.dispose()
    return {
        "seconds": seconds,
        "rows": sum(r.rows for r in results),
        "inserted": sum(r.inserted for r in results),
        "unchanged": sum(r.unchanged for r in results),
    }


class _Printing(list):  # type: ignore[type-arg]
    """The results so far; each is printed as soon as it is in."""

    def append(self, item: tuple[str, dict[str, float]]) -> None:
        name, r = item
        super().append(item)
        print(
            f"{name:<38} {int(r['rows']):>10} {r['seconds']:>9.1f} "
            f"{r['rows'] / r['seconds']:>10.0f} {r['cpu_seconds']:>8.1f} "
            f"{r['peak_rss_mib']:>5.0f} MiB",
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


def postgres_urls(url: str) -> tuple[str, str]:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{BENCH_DB}"'))
    admin.dispose()
    bench = make_url(url).set(database=BENCH_DB).render_as_string(hide_password=False)
    return url, bench


def drop_postgres(url: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
    admin.dispose()


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
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, *rest = args.child
        result = (
            child_parse(Path(rest[0])) if mode == "parse" else child_import(rest[0], Path(rest[1]))
        )
        result.update(_usage())
        print(json.dumps(result))
        return

    data = args.workdir / f"data-{args.enterprises}-{args.seed}"
    data.mkdir(parents=True, exist_ok=True)
    gen_seconds = generate(data, args.enterprises, args.seed)
    sizes = {k: (data / f"{k}.csv").stat().st_size / 2**20 for k in KINDS}
    print(
        f"generated {args.enterprises} enterprises in {gen_seconds:.1f} s "
        f"({', '.join(f'{k}.csv {v:.0f} MiB' for k, v in sizes.items())})",
        flush=True,
    )

    print(f"{'run':<38} {'rows':>10} {'seconds':>9} {'rows/s':>10} {'CPU s':>8} {'peak RSS':>9}")
    results: list[tuple[str, dict[str, float]]] = _Printing()
    results.append(("parse + validate only (no database)", run_child("parse", str(data))))
    sqlite_path = args.workdir / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
    sqlite_url = f"sqlite:///{sqlite_path}"
    results.append(("SQLite: first import", run_child("import", sqlite_url, str(data))))
    results.append(("SQLite: re-import (no changes)", run_child("import", sqlite_url, str(data))))
    if args.postgres_url:
        admin, url = postgres_urls(args.postgres_url)
        try:
            results.append(("PostgreSQL: first import", run_child("import", url, str(data))))
            results.append(
                ("PostgreSQL: re-import (no changes)", run_child("import", url, str(data)))
            )
        finally:
            drop_postgres(admin)
    else:
        print("skip PostgreSQL: set --postgres-url or SHUANGSUI_BENCH_POSTGRES_URL", flush=True)

    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
