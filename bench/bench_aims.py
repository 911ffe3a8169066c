"""Every aim of issue 17 in one command: each bench at the sizes and on the databases the issue
names, one after the other, then the lines in which each states its ratio against its aim.

Usage (from the repository root, after `make bench`):
  .venv/bin/python bench/bench_aims.py [--postgres-url URL] [--sizes 200000,1000000]
                                       [--only draw,publish,exchange,import,notifications]
                                       [--workdir DIR]

A registry of N enterprises stands for N / 10 published results and N / 10 partner-log
entries (the issue's 200,000 and 20,000), the draw for N / 200 inspectors (1,000 at 200,000);
the webhooks are measured at 3,000 and 10,000 messages, whatever the size. Each bench runs in
its own process, its whole output kept in ``--workdir/<bench>-<size>-<database>.txt`` with the
load average before it; the summary repeats the lines stating a ratio (``aim``, the import's
``x  CPU``, the webhooks' medians against the httpx ceiling) and the publish's and the sync's
own peak memory. Without a PostgreSQL URL (the option,
``SHUANGSUI_BENCH_POSTGRES_URL`` or ``SHUANGSUI_TEST_POSTGRES_URL``) only SQLite runs. The
benches run one at a time and nothing else should: each compares itself with its floor in the
same run, but a second job on a 2-core machine moves both sides unevenly. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHES = ("draw", "publish", "exchange", "import", "notifications")
STATES_A_RATIO = ("(aim ", "x  CPU", "of the sink ceiling**", "memory of the ")


Run = tuple[str, str, list[str]]  # its name, the bench, the bench's arguments


def runs(size: int, postgres_url: str, workdir: Path) -> list[Run]:
    """Each run at ``size`` enterprises, named bench-size-database."""
    out = []
    for database, url in (("sqlite", ""), ("postgresql", postgres_url)):
        if database == "postgresql" and not url:
            continue
        on = ["--postgres-url", url] if url else []
        named = f"{size}-{database}"
        out += [
            (f"draw-{named}", "draw",
             ["bench_draw.py", "--enterprises", str(size), "--inspectors", str(size // 200),
              "--draws", "3", "--workdir", str(workdir / "draw"), *on]),
            (f"publish-{named}", "publish",
             ["bench_publish.py", "--results", str(size // 10),
              "--rounds", str(max(1, size // 20_000)), *on]),
            (f"exchange-{named}", "exchange",
             ["bench_exchange.py", "--entries", str(size // 10), *on]),
            (f"import-{named}", "import",
             ["bench_import.py", "--enterprises", str(size), "--databases", database,
              "--no-parse", "--workdir", str(workdir / "import"), *on]),
        ]  # fmt: skip
    return out


def notification_runs() -> list[Run]:
    return [
        (f"webhooks-{n}", "notifications",
         ["bench_notifications.py", "--messages", str(n), "--channels", "webhook",
          "--repeats", str(repeats)])
        for n, repeats in ((3_000, 3), (10_000, 2))
    ]  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--postgres-url", default=os.environ.get("SHUANGSUI_BENCH_POSTGRES_URL")
                    or os.environ.get("SHUANGSUI_TEST_POSTGRES_URL", ""))  # fmt: skip
    ap.add_argument("--sizes", default="200000,1000000")
    ap.add_argument("--only", default=",".join(BENCHES))
    ap.add_argument("--workdir", type=Path,
                    default=Path(tempfile.gettempdir()) / "shuangsui-bench-aims")  # fmt: skip
    args = ap.parse_args()
    only = set(args.only.split(","))
    if unknown := only - set(BENCHES):
        ap.error(f"--only: unknown bench(es) {', '.join(sorted(unknown))}; known: {BENCHES}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    plan = [run for size in map(int, args.sizes.split(","))
            for run in runs(size, args.postgres_url, args.workdir)]  # fmt: skip
    plan += notification_runs()
    summary = []
    for name, bench, argv in plan:
        if bench not in only:
            continue
        load = "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
        print(f"== {name} ({time.strftime('%H:%M:%S')}, load average {load})", flush=True)
        command = [sys.executable, str(ROOT / "bench" / argv[0]), *argv[1:]]
        t0 = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        text = f"$ {' '.join(argv)}\n# load average before: {load}\n{done.stdout}{done.stderr}"
        (args.workdir / f"{name}.txt").write_text(text, "utf-8")
        stated = [line.strip() for line in done.stdout.splitlines()
                  if any(mark in line for mark in STATES_A_RATIO)]  # fmt: skip
        if done.returncode:
            stated.append(f"exit {done.returncode}: see {args.workdir / f'{name}.txt'}")
        summary.append((name, seconds, stated))
    print(f"\nsummary (each run's whole output in {args.workdir})")
    for name, seconds, stated in summary:
        print(f"\n{name} ({seconds:.0f} s)")
        for line in stated:
            print(f"  {line}")


if __name__ == "__main__":
    main()
