"""Scale benchmark: generate, import, commit, draw, bundle and verify one registry of N
enterprises, each step in its own process, recording its wall time, CPU time and peak RSS.

Steps (each a fresh interpreter, so each peak is that step's own; results go to
``<workdir>/<N>-<database>/results.json`` and a finished step is not run again):
  generate — ``registry.generate`` writes the five CSV files (streamed, row by row);
  import   — migrations + ``registry.importer.import_files`` of the five files, one transaction;
  commit   — ``rounds.service.commit_round`` with the plan of ``bench/bench_draw.py``;
  draw     — ``rounds.service.draw_round`` (with the notices and partner-log hooks unless
             ``--no-hooks``);
  bundle   — ``rounds.bundle.bundle_round``: the public verification bundle;
  verify   — the bundle's own ``verify.py`` under ``python -I -S``, as an outsider runs it.
Peak RSS is ``ru_maxrss`` of the step's process (``os.wait4``); PostgreSQL's server processes
are not counted. The frame's bytes are the uncompressed sizes of the round's two frame
artifacts (``frame-enterprises.jsonl`` + ``frame-inspectors.jsonl``), read from the bundle.
The floor printed beside each size is ``csv.reader`` over the generated enterprise and
certificate files in a process of its own (the same machine, the same run).

Usage (from the repository root):
  .venv/bin/python bench/bench_scale.py --enterprises N [--inspectors M] [--workdir DIR]
                                        [--postgres-url URL] [--no-hooks] [--keep-csv]
Inspectors default to max(1000, N / 200), enough teams for the plan's workload cap.
Never asserts a time: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from bench_draw import PLAN, _postgres_database, drop_rounds  # noqa: E402

STEPS = ("generate", "floor", "import", "commit", "draw", "bundle", "verify")
KINDS = ("check-items", "enterprises", "certificates", "inspectors", "conflicts")
ENTROPY = "31415926535897932384626433"


def _database_url(args: argparse.Namespace, work: Path, *, fresh: bool = False) -> str:
    if not args.postgres_url:
        return f"sqlite:///{work / 'registry.db'}"
    name = f"shuangsui_bench_scale_{args.enterprises}"
    return _postgres_database(args.postgres_url, name, fresh=fresh)


def run_step(step: str, args: argparse.Namespace, work: Path) -> dict[str, object]:
    """One step, in this (child) process; returns what it wants recorded."""
    os.environ["SHUANGSUI_HOME"] = str(work / "home")
    if step == "generate":
        from registry.generate import generate

        return generate(
            enterprises=args.enterprises, inspectors=args.inspectors, seed=1, out=work / "csv"
        )
    if step == "floor":  # csv.reader over the two large files: the least any import reads
        import csv

        rows = 0
        for kind in ("enterprises", "certificates"):
            with (work / "csv" / f"{kind}.csv").open(encoding="utf-8-sig", newline="") as fh:
                rows += sum(1 for _ in csv.reader(fh)) - 1
        return {"rows": rows}
    if step == "import":
        from sqlmodel import Session

        from registry.importer import import_files
        from shuangsui.db import get_engine, migrate

        if not args.postgres_url:
            (work / "registry.db").unlink(missing_ok=True)
        url = os.environ["SHUANGSUI_DATABASE_URL"] = _database_url(args, work, fresh=True)
        migrate(url)
        with Session(get_engine()) as session:
            results = import_files(
                session=session, files=[(k, work / "csv" / f"{k}.csv") for k in KINDS]
            )
            session.commit()
        return {r.kind: r.inserted for r in results}
    os.environ["SHUANGSUI_DATABASE_URL"] = _database_url(args, work)
    from rounds import service
    from shuangsui.db import get_engine

    engine = get_engine()
    if step == "commit":
        drop_rounds(engine)  # a round key commits once: a re-run commits afresh
        rnd = service.commit_round(engine=engine, plan_text=PLAN, plan_source="bench")
        (work / "round.key").write_text(rnd.round_key)
        return {"round": rnd.round_key}
    key = (work / "round.key").read_text()
    if step == "draw":
        if not args.no_hooks:
            from shuangsui import wiring

            wiring.install()  # as in production: notices and the partner log join the draw
        rnd = service.draw_round(
            engine=engine, round_key=key, entropy=service.EntropyInput(ENTROPY, ("bench",))
        )
        counts = rnd.counts or {}
        return {
            "frame_size": rnd.frame_size,
            "selected": sum(c["drawn"] + c["targeted"] for c in counts.values()),
        }
    if step == "bundle":
        from rounds import bundle

        bundle.bundle_round(engine, key, work / "bundle")
        return {}
    raise SystemExit(f"unknown step {step}")


def _child(step: str, argv: list[str], work: Path) -> dict[str, object]:
    """Run one step in a fresh process: wall, CPU and peak RSS of that process alone."""
    if step == "verify":
        bundle = work / "bundle"
        command = [sys.executable, "-I", "-S", str(bundle / "verify.py"), str(bundle)]
    else:
        command = [sys.executable, __file__, *argv, "--run-step", step]
    out = work / f"{step}.out"
    t0 = time.perf_counter()
    with out.open("w") as fh:
        proc = subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    record: dict[str, object] = {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        "exit": proc.returncode,
        "load": os.getloadavg()[0],
    }
    result = work / f"{step}.json"
    if result.exists():
        record.update(json.loads(result.read_text()))
    return record


def _frame_bytes(work: Path) -> int:
    bundle = work / "bundle"
    return sum((bundle / n).stat().st_size for n in ("frame-enterprises.jsonl",)) + sum(
        p.stat().st_size for p in bundle.glob("frame-inspectors*.jsonl")
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--enterprises", type=int, required=True)
    ap.add_argument("--inspectors", type=int, default=0, help="default max(1000, N / 200)")
    ap.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "shuangsui-bench-scale"
    )
    ap.add_argument("--postgres-url", default="", help="import and draw on PostgreSQL")
    ap.add_argument("--no-hooks", action="store_true", help="draw without notices/partner log")
    ap.add_argument("--steps", default=",".join(STEPS), help="comma-separated subset, in order")
    ap.add_argument("--redo", action="store_true", help="run the steps even if recorded")
    ap.add_argument("--run-step", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.inspectors = args.inspectors or max(1000, args.enterprises // 200)
    database = "postgresql" if args.postgres_url else "sqlite"
    work: Path = args.workdir / f"{args.enterprises}-{database}"
    work.mkdir(parents=True, exist_ok=True)
    if args.run_step:
        record = run_step(args.run_step, args, work)
        (work / f"{args.run_step}.json").write_text(json.dumps(record))
        return 0

    argv = [a for a in sys.argv[1:] if a != "--redo"]
    results_path = work / "results.json"
    results: dict[str, dict[str, object]] = (
        json.loads(results_path.read_text()) if results_path.exists() else {}
    )
    print(f"{args.enterprises:,} enterprises, {args.inspectors:,} inspectors, {database}; {work}")
    print(f"{'step':<9} {'wall s':>9} {'CPU s':>9} {'peak RSS MiB':>13}  load  exit")
    for step in args.steps.split(","):
        if step in results and not args.redo and results[step].get("exit") == 0:
            record = results[step]
        else:
            (work / f"{step}.json").unlink(missing_ok=True)
            record = _child(step, argv, work)
            results[step] = record
            results_path.write_text(json.dumps(results, indent=1))
        print(
            f"{step:<9} {record['wall_s']:>9.2f} {record['cpu_s']:>9.2f}"
            f" {record['peak_rss_mib']:>13.1f}  {record['load']:4.1f}  {record['exit']}",
            flush=True,
        )
        if record["exit"] != 0:
            print((work / f"{step}.out").read_text()[-3000:])
            return 1
    if (work / "bundle" / "frame-enterprises.jsonl").exists():
        frame = _frame_bytes(work)
        results["frame"] = {"bytes": frame}
        results_path.write_text(json.dumps(results, indent=1))
        print(f"frame artifacts: {frame:,} bytes ({frame / 2**20:.1f} MiB), uncompressed")
        for step, record in results.items():
            if "peak_rss_mib" in record:
                ratio = float(record["peak_rss_mib"]) * 2**20 / frame  # type: ignore[arg-type]
                print(f"  {step:<9} peak RSS / frame bytes = {ratio:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
