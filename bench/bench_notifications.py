"""Notification throughput: a sink's ceiling, a naive sender and shuangsui's dispatcher.

Usage: .venv/bin/python bench/bench_notifications.py [--messages 10000] [--concurrency N]
       [--processes N]   (default: the dispatcher's own defaults) [--repeats 3]
       [--channels email,webhook] [--postgres-url URL]

For each channel (SMTP to a local aiosmtpd, generic webhooks to a local uvicorn), each running
in its own process, one run of: a naive baseline (one connection per message, sequential), the
sink's ceiling (pre-rendered messages over one reused connection: smtplib; for webhooks httpx's
own transport, the reference issue 17's aim names), the stdlib floor (the same sends with the
standard library's client: smtplib, which is also the mail channel's client, and http.client,
which since 2026-12-03 is also the wire under the webhook channel's httpx interface) and
the dispatcher (rendering, outbox bookkeeping and all, on SQLite; with ``--postgres-url`` on
PostgreSQL, each run in a copy of one database made for it on that server, whose role needs
CREATEDB), in one process and in ``--processes`` (when the backlog is large enough for
the dispatcher to start a helper).
Each configuration runs ``--repeats`` times, interleaved with measurements of the ceiling and
the floor (the shared machine drifts); the aim is read from the median run against the median
reference, and each run is also given against the mean of the references just before and
just after it (the method until 2026-12-01).

Every row also gives the CPU the sending side spent per message (this process, plus the
dispatcher's helper processes; not the sink's): on a loaded machine wall-clock ratios swing
by tens of points between runs of the same command, CPU per message much less. Prints a
table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ROUND_KEY = "BENCH-R1"

SMTP_SINK = """
import asyncio, sys
from aiosmtpd.controller import Controller
class H:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
c = Controller(H(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"""

HTTP_SINK = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"errcode":0}'})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)
"""


def cpu_seconds() -> float:
    """CPU of this process and of its reaped children (the dispatcher's helpers; the sinks are
    reaped only at the end)."""
    me, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                    resource.RUSAGE_CHILDREN))  # fmt: skip
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


class Timed:
    """Wall-clock and CPU seconds of the sending side, around a ``with`` block."""

    def __enter__(self) -> Timed:
        self._wall, self._cpu = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = cpu_seconds() - self._cpu

    @property
    def both(self) -> tuple[float, float]:
        return self.wall, self.cpu


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink(code: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", code, str(port)], stdin=subprocess.PIPE,
                            cwd=tempfile.gettempdir())  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("sink did not start")


def build_world(url: str, n: int, channel: str, hook_url: str) -> str:
    from sqlalchemy import insert

    from registry.models import Certificate, CheckItem, Enterprise, Inspector
    from rounds.models import Assignment, PlanVersion, Round
    from shuangsui.db import make_engine, migrate

    migrate(url)
    engine = make_engine(url)
    now = datetime.now(UTC)
    enterprises, inspectors = n // 2, 200
    rk = ROUND_KEY
    round_values = dict(round_key=rk, plan_id="p", plan_hash="a" * 64, check_item_code="RZ-01",
        kind="scheduled", period="2026-12", window_start=date(2026, 12, 1),
        window_end=date(2026, 12, 31), status="drawn", frame_commitment="b" * 64,
        frame_merkle_root="c" * 64, frame_size=n, inspector_commitment="d" * 64,
        inspector_merkle_root="e" * 64, inspector_frame_size=inspectors,
        constraints_commitment="f" * 64, committed_at=now, overrides={}, entropy_plan={},
        requested_by="", reason="")  # fmt: skip
    round_values = {k: v for k, v in round_values.items() if k in Round.__table__.c}
    with engine.begin() as c:
        c.execute(
            insert(CheckItem).values(
                code="RZ-01",
                name="强制性产品认证检查",
                legal_basis="x",
                category="general",
                cert_kinds=["ccc"],
                updated_at=now,
            )
        )
        c.execute(
            insert(PlanVersion).values(
                plan_hash="a" * 64,
                plan_id="p",
                check_item_code="RZ-01",
                period="2026-12",
                source="",
                yaml_text="",
                canonical_json='{"title": "基准批次"}',
                loaded_at=now,
            )
        )
        c.execute(insert(Round).values(**round_values))
        c.execute(
            insert(Inspector),
            [
                dict(
                    inspector_id=f"I{i:04d}",
                    name=f"检查员{i}",
                    unit="大队",
                    division_code="350100",
                    credential_no="x",
                    credential_valid_from=date(2024, 1, 1),
                    credential_valid_until=date(2029, 1, 1),
                    expertise=["ccc"],
                    leave=[],
                    email=f"i{i}@bench.example.cn" if channel == "email" else "",
                    webhook_url=f"{hook_url}/hook/{i}" if channel == "webhook" else "",
                    webhook_kind="generic",
                    language="zh",
                    status="active",
                    updated_at=now,
                )
                for i in range(inspectors)
            ],
        )
        codes = [f"91350100B{i:09d}" for i in range(enterprises)]
        c.execute(
            insert(Enterprise),
            [
                dict(
                    credit_code=code,
                    name=f"企业{i}",
                    division_code="350100",
                    address=f"路{i}号",
                    industry="",
                    risk_class="B",
                    abnormal_listed=False,
                    serious_violation=False,
                    status="active",
                    updated_at=now,
                )
                for i, code in enumerate(codes)
            ],
        )
        c.execute(
            insert(Certificate),
            [
                dict(
                    body="CQC",
                    number=f"N{i}",
                    credit_code=code,
                    kind="ccc",
                    scope="家电",
                    status="valid",
                    issued_on=date(2026, 1, 1),
                    expires_on=date(2031, 1, 1),
                    updated_at=now,
                )
                for i, code in enumerate(codes)
            ],
        )
        c.execute(insert(Assignment), [
            dict(round_key=rk, credit_code=code, inspector_id=f"I{(2 * i + p) % inspectors:04d}",
                 position=p, due_on=date(2026, 12, 18))
            for i, code in enumerate(codes) for p in range(2)])  # fmt: skip
    engine.dispose()
    return rk


def prerendered(n: int) -> list[tuple[str, bytes]]:
    from notifications.wire import build_email

    now = datetime.now(UTC)
    body = "检查任务通知正文\n" * 20
    return [
        (f"i{i % 200}@bench.example.cn",
         build_email(key=f"{i:064x}", sender="b@bench.example.cn",
                     to=f"i{i % 200}@bench.example.cn", subject=f"【检查任务通知】企业{i}",
                     body=body, created_at=now, kind="assignment", round_key="BENCH"))
        for i in range(n)
    ]  # fmt: skip


def smtp_ceiling(port: int, msgs: list[tuple[str, bytes]]) -> tuple[float, float]:
    with Timed() as t, smtplib.SMTP("127.0.0.1", port) as s:
        for to, data in msgs:
            s.sendmail("b@bench.example.cn", [to], data)
    return t.both


def smtp_naive(port: int, msgs: list[tuple[str, bytes]]) -> tuple[float, float]:
    with Timed() as t:
        for to, data in msgs:
            with smtplib.SMTP("127.0.0.1", port) as s:
                s.sendmail("b@bench.example.cn", [to], data)
    return t.both


def http_ceiling(url: str, n: int, client: str) -> tuple[float, float]:
    """``httpx``: pre-built requests over one kept-alive connection, straight to httpx's own
    transport (as the webhook channel sent until 2026-12-03; the aim's reference);
    ``naive``: the same with a fresh connection per message; ``http.client``: the stdlib
    floor, one kept-alive connection with the standard library's client (the wire of the
    channel's transport now, ``notifications.channels.kept_http``)."""
    import http.client
    from urllib.parse import urlsplit

    import httpx

    from notifications.wire import build_webhook

    now = datetime.now(UTC)
    reqs = [build_webhook(channel="webhook", url=f"{url}/hook/{i % 200}", key=f"{i:064x}",
                          subject=f"【检查任务通知】企业{i}", body="正文\n" * 20,
                          payload={"i": i}, now=now, secret=b"s") for i in range(n)]  # fmt: skip
    with Timed() as t:
        if client == "http.client":
            parts = urlsplit(url)
            conn = http.client.HTTPConnection(parts.hostname, parts.port)
            for r in reqs:
                conn.request("POST", urlsplit(r.url).path, body=r.body, headers=r.headers)
                response = conn.getresponse()
                response.read()
                assert response.status == 200
            conn.close()
        else:  # "naive": no keep-alive, a fresh TCP connection per message
            keepalive = 0 if client == "naive" else None
            limits = httpx.Limits(max_keepalive_connections=keepalive)
            with httpx.HTTPTransport(limits=limits) as transport:
                for r in reqs:
                    req = httpx.Request("POST", r.url, content=r.body, headers=r.headers)
                    response = transport.handle_request(req)
                    response.read()
                    response.close()
                    assert response.status_code == 200
    return t.both


POSTGRES_URL = ""  # --postgres-url: the server the worlds and runs are made on
PG_PREFIX = f"bench_notify_{os.getpid()}"


def run_dispatcher(world: Path, workdir: Path, n: int, channel: str, port: int,
                   concurrency: int, processes: int) -> dict[str, float]:  # fmt: skip
    """Enqueue and dispatch ``n`` messages on a fresh copy of ``world`` (a database
    :func:`build_world` made): seconds and CPU seconds of each, sent, processes."""
    from notifications.dispatch import dispatch
    from notifications.outbox import enqueue_round_assignments
    from notifications.settings import NotifySettings, SmtpSettings
    from shuangsui.config import Settings
    from shuangsui.db import make_engine, session_scope

    if POSTGRES_URL:
        import pg_admin

        name = f"{PG_PREFIX}_run"
        url = pg_admin.fresh(POSTGRES_URL, name, template=world.name)
    else:
        db = workdir / f"run-{time.monotonic_ns()}.db"
        shutil.copyfile(world, db)
        url = f"sqlite:///{db}"
    settings = Settings(environment="test", home=workdir, database_url=url)
    notify = NotifySettings(channel="live", batch_size=200, concurrency=concurrency,
                            processes=processes)  # fmt: skip
    engine = make_engine(url)
    c0, t0 = cpu_seconds(), time.perf_counter()
    with session_scope(engine) as session:
        enqueue_round_assignments(session=session, round_key=ROUND_KEY, summary=False,
                                  settings=settings, notify=notify)  # fmt: skip
    c1, t1 = cpu_seconds(), time.perf_counter()
    smtp = SmtpSettings(port=port or 25, sender="b@bench.example.cn")  # 0: webhooks, no mail
    report = dispatch(engine=engine, settings=settings, notify=notify, smtp=smtp)
    c2, t2 = cpu_seconds(), time.perf_counter()
    engine.dispose()
    if POSTGRES_URL:
        pg_admin.drop(POSTGRES_URL, name)
    else:
        db.unlink()
    return {"enqueue": t1 - t0, "enqueue_cpu": c1 - c0, "dispatch": t2 - t1,
            "dispatch_cpu": c2 - c1, "sent": report.sent,
            "processes": report.processes}  # fmt: skip


def world(workdir: Path, n: int, channel: str, hook_url: str) -> Path:
    """A database with the round and ``n`` assignments, made once and copied for each run."""
    from shuangsui.db import make_engine

    path = workdir / f"world-{channel}-{n}.db"
    if POSTGRES_URL:  # the database's name, as a path's name
        path = Path(f"{PG_PREFIX}_world_{channel}_{n}")
        if path.name not in WORLDS:
            import pg_admin

            url = pg_admin.fresh(POSTGRES_URL, path.name)
            build_world(url, n, channel, hook_url)
            make_engine(url).dispose()
            WORLDS.append(path.name)
    elif not path.exists():
        url = f"sqlite:///{path}"
        build_world(url, n, channel, hook_url)
        make_engine(url).dispose()
    return path


WORLDS: list[str] = []  # the PostgreSQL worlds made, dropped at the end


Row = tuple[str, str, int, float, float]  # channel, sender, messages, seconds, CPU seconds
Reference = tuple[str, Callable[[], tuple[float, float]]]  # label, one measurement


def dispatcher_rows(channel: str, label: str, workdir: Path, n: int, port: int, hook: str,
                    args: argparse.Namespace,
                    references: list[Reference]) -> tuple[list[Row], list[str]]:  # fmt: skip
    """Each configuration ``args.repeats`` times, interleaved with the references (the ceiling
    first, then the floor, if it is another client): reference, run, reference, run, ...,
    reference. Two ratios per configuration:

    - per run, against the mean of the reference just before and just after it (the method
      until 2026-12-01, kept for comparison): one noisy moment on either side decides it;
    - the median of the runs against the median of all the reference measurements around
      them, the figure the aim is read from: on a machine that drifts by 2x within a minute,
      neither side is decided by its luckiest or unluckiest moment.

    First a small warm-up run (its own database), which also warms the references' code
    (httpx, the webhook builder), so every measurement finds the process in the same state:
    the first enqueue in a process pays the template compilation and the imports behind it
    once, about a second. Each run enqueues into a fresh copy of one database built before
    the first, so the runs start alike too."""
    warm_world = world(workdir, 50, channel, hook)
    w = run_dispatcher(warm_world, workdir, 50, channel, port, args.concurrency, 1)
    rows: list[Row] = [(label, "warm-up: first use in the process (imports, templates), "
                        "enqueue + dispatch", int(w["sent"]), w["enqueue"] + w["dispatch"],
                        w["enqueue_cpu"] + w["dispatch_cpu"])]  # fmt: skip
    notes = []
    names = [name for name, _ in references]
    whats = [name.split("**")[1] if "**" in name else name for name in names]
    from notifications.settings import NotifySettings

    configurations = [1]
    if args.processes > 1 and n >= NotifySettings().helper_min_backlog:
        configurations.append(args.processes)  # below the threshold it is the same one process
    the_world = world(workdir, n, channel, hook)
    for processes in configurations:
        how = f"{processes} process{'es' if processes > 1 else ''} x {args.concurrency} workers"
        refs = [[send() for _, send in references]]  # refs[i]: one measurement of each
        runs = []
        for i in range(args.repeats):
            r = run_dispatcher(the_world, workdir, n, channel, port, args.concurrency, processes)
            runs.append(r)
            refs.append([send() for _, send in references])
            run = f"{how}, run {i + 1}/{args.repeats}"
            if r["processes"] != processes:
                run += f" ({r['processes']:.0f} started)"
            sent = int(r["sent"])
            e2e, e2e_cpu = r["enqueue"] + r["dispatch"], r["enqueue_cpu"] + r["dispatch_cpu"]
            if i == 0:
                rows += [(label, f"{name}, before run 1", n, *m)
                         for name, m in zip(names, refs[0], strict=True)]  # fmt: skip
            rows.append((label, f"shuangsui enqueue (render + outbox), {run}", sent,
                         r["enqueue"], r["enqueue_cpu"]))  # fmt: skip
            rows.append((label, f"shuangsui dispatch, {run}", sent, r["dispatch"],
                         r["dispatch_cpu"]))  # fmt: skip
            rows.append((label, f"**shuangsui end to end, {run}**", sent, e2e, e2e_cpu))
            rows += [(label, f"{name}, after run {i + 1}", n, *m)
                     for name, m in zip(names, refs[-1], strict=True)]  # fmt: skip
            for k, what in enumerate(whats):  # the old column: mean of just before and after
                b, a = refs[i][k], refs[i + 1][k]
                rate = n / ((b[0] + a[0]) / 2)
                notes.append(
                    f"{label}, {run}: end to end {sent / e2e:,.0f}/s = {sent / e2e / rate:.0%} "
                    f"of the {what} just before and after ({rate:,.0f}/s, mean; dispatch alone "
                    f"{sent / r['dispatch'] / rate:.0%}); CPU {e2e_cpu / sent * 1e3:.2f} "
                    f"ms/message = {e2e_cpu / sent / ((b[1] + a[1]) / 2 / n):.2f}x its "
                    f"{(b[1] + a[1]) / 2 / n * 1e3:.2f}"
                )
        e2e_rates = [r["sent"] / (r["enqueue"] + r["dispatch"]) for r in runs]
        e2e_cpus = [(r["enqueue_cpu"] + r["dispatch_cpu"]) / r["sent"] for r in runs]
        e2e_rate, e2e_cpu = statistics.median(e2e_rates), statistics.median(e2e_cpus)
        for k, what in enumerate(whats):
            rate = statistics.median(n / m[k][0] for m in refs)
            cpu = statistics.median(m[k][1] / n for m in refs)
            each = ", ".join(f"{x / rate:.0%}" for x in e2e_rates)
            notes.append(
                f"**{label}, {how}, median of {len(runs)} runs: end to end {e2e_rate:,.0f}/s = "
                f"{e2e_rate / rate:.0%} of the {what}** (median of {len(refs)} measurements "
                f"around them, {rate:,.0f}/s; each run {each}); CPU {e2e_cpu * 1e3:.2f} "
                f"ms/message = {e2e_cpu / cpu:.2f}x its {cpu * 1e3:.2f} (medians)"
            )
    return rows, notes


def smtp_rows(workdir: Path, n: int, args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    port = free_port()
    sink = start_sink(SMTP_SINK, port)
    try:
        msgs = prerendered(n)
        rows = [("smtp", "naive (1 connection per message)", n, *smtp_naive(port, msgs))]
        more, notes = dispatcher_rows(
            "email", "smtp", workdir, n, port, "", args,
            [("**sink ceiling = stdlib floor** (pre-rendered, smtplib, 1 connection)",
              lambda: smtp_ceiling(port, msgs))],
        )  # fmt: skip
        return rows + more, notes
    finally:
        sink.stdin.close()  # type: ignore[union-attr]
        sink.wait(10)


def helper_startup() -> float:
    """What a helper process costs before its first claim: a fresh interpreter importing
    ``notifications.helper`` (the dispatcher starts ``processes - 1`` of them)."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import notifications.helper"], cwd=ROOT, check=True)
    return time.perf_counter() - t


def webhook_rows(workdir: Path, n: int, args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    hport = free_port()
    hsink = start_sink(HTTP_SINK, hport)
    hook = f"http://127.0.0.1:{hport}"
    try:
        rows: list[Row] = [("webhook", "naive (httpx, 1 connection per message)", n,
                            *http_ceiling(hook, n, "naive"))]  # fmt: skip
        more, notes = dispatcher_rows(
            "webhook", "webhook", workdir, n, 0, hook, args,
            [("**sink ceiling** (pre-built, httpx, 1 connection)",
              lambda: http_ceiling(hook, n, "httpx")),
             ("**stdlib floor** (pre-built, http.client, 1 connection)",
              lambda: http_ceiling(hook, n, "http.client"))],
        )  # fmt: skip
        return rows + more, notes
    finally:
        hsink.terminate()
        hsink.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10_000)
    from notifications.settings import NotifySettings

    defaults = NotifySettings()  # what a bureau runs unless it sets SHUANGSUI_NOTIFY_*
    ap.add_argument("--concurrency", type=int, default=defaults.concurrency,
                    help="workers per process")  # fmt: skip
    ap.add_argument("--processes", type=int, default=defaults.processes)
    ap.add_argument("--channels", default="email,webhook", help="comma-separated, in order")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs of each configuration, interleaved with the references")  # fmt: skip
    ap.add_argument("--postgres-url", default="",
                    help="the dispatcher's outbox on PostgreSQL (a server whose role may create "
                    "databases) instead of SQLite")  # fmt: skip
    args = ap.parse_args()
    global POSTGRES_URL
    POSTGRES_URL = args.postgres_url
    n = args.messages
    rows: list[Row] = []
    notes: list[str] = []
    startup = helper_startup()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for channel in args.channels.split(","):
                section = {"email": smtp_rows, "webhook": webhook_rows}[channel]
                more, said = section(Path(tmp), n, args)
                rows += more
                notes += said
        finally:
            if WORLDS:
                import pg_admin

                pg_admin.drop(POSTGRES_URL, *WORLDS)
    print("| channel | sender | messages | seconds | msg/s | CPU ms/msg |")
    print("|---|---|---:|---:|---:|---:|")
    for channel, label, count, secs, cpu in rows:
        print(f"| {channel} | {label} | {count} | {secs:.2f} | {count / secs:,.0f} "
              f"| {cpu / count * 1e3:.2f} |")  # fmt: skip
    print()
    for note in notes:
        print(f"- {note}")
    print(f"- a helper process's start (interpreter + imports, before its first claim): "
          f"{startup:.2f} s")  # fmt: skip
    print(f"- load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"- the outbox on {'PostgreSQL' if POSTGRES_URL else 'SQLite'}")


if __name__ == "__main__":
    os.environ.setdefault("SHUANGSUI_ENVIRONMENT", "test")
    main()
