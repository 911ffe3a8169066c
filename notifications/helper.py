"""Helper processes of the dispatcher: more interpreters claiming from the same outbox.

One Python process delivers at most what one core can do under the GIL (HTTP and SMTP clients
here are pure Python). With ``SHUANGSUI_NOTIFY_PROCESSES`` > 1, :func:`dispatch` starts this
module as ``python -m notifications.helper`` when it finds a backlog. A helper reads its job
(pickled: it comes from its own parent, over a pipe) on stdin, runs the same workers against
the same database (leases, and ``SKIP LOCKED`` on PostgreSQL, keep the processes apart) and
writes its report as one JSON line on stdout.

A helper stops claiming once its parent is gone (a killed dispatcher leaves no orphan taking
new work); the messages it already holds are delivered and recorded first, or come back to the
queue when their lease ends.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from notifications import link_key
from notifications.dispatch import DispatchReport, claim, run_workers
from notifications.settings import NotifySettings, SmtpSettings
from shuangsui.config import Settings

logger = logging.getLogger(__name__)


class Helper:
    """A running helper process."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    def wait(self) -> DispatchReport:
        assert self.proc.stdout is not None
        with self.proc:  # closes the pipes, waits for the exit
            out = self.proc.stdout.read()
        lines = out.decode("utf-8", "replace").strip().splitlines()
        result = json.loads(lines[-1]) if lines else {}
        if "stale_key" in result:  # said as the parent's own: one line, exit 2
            raise link_key.StaleKey.heard(result["stale_key"])
        if self.proc.returncode != 0 or "error" in result:
            reason = result.get("error") or f"exit status {self.proc.returncode}"
            raise RuntimeError(f"dispatcher helper process {self.proc.pid} failed: {reason}")
        return DispatchReport(**{k: v for k, v in result.items() if k != "elapsed"})


def start_helpers(
    count: int,
    *,
    engine: Engine,
    batch_size: int,
    concurrency: int,
    round_key: str | None,
    now: datetime | None,
    settings: Settings,
    notify: NotifySettings,
    smtp: SmtpSettings,
) -> list[Helper]:
    if smtp.username and smtp.password_block:  # resolve once here, not via Prefect per helper
        smtp = smtp.model_copy(update={"password": smtp.resolved_password(), "password_block": ""})
    job = {
        "url": engine.url.render_as_string(hide_password=False),
        "batch_size": batch_size,
        "concurrency": concurrency,
        "round_key": round_key,
        "now": now,
        "settings": settings,
        "notify": notify,
        "smtp": smtp,
        "parent": os.getpid(),
    }
    data = pickle.dumps(job)
    helpers = []
    for _ in range(count):
        proc = subprocess.Popen(
            [sys.executable, "-m", "notifications.helper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert proc.stdin is not None
        proc.stdin.write(data)
        proc.stdin.close()
        helpers.append(Helper(proc))
    logger.info("started %d dispatcher helper process(es)", count)
    return helpers


def run(job: dict[str, Any]) -> DispatchReport:
    from shuangsui.db import make_engine

    engine = make_engine(job["url"])
    parent = job["parent"]
    now = job["now"]
    notify: NotifySettings = job["notify"]
    clock = (lambda: now) if now else (lambda: datetime.now(UTC))
    lease = timedelta(seconds=notify.lease_seconds)
    at, since = clock(), time.monotonic()
    try:
        return run_workers(
            engine=engine,
            first=claim(engine, job["batch_size"], at, lease, job["round_key"],
                        secret=job["settings"].secret_key.get_secret_value()),
            first_lease_until=at + lease, first_claimed=since, batch_size=job["batch_size"],
            concurrency=job["concurrency"], round_key=job["round_key"], clock=clock,
            lease=lease, transport=None, settings=job["settings"], notify=notify,
            smtp=job["smtp"],
            keep_going=lambda: os.getppid() == parent,
        )  # fmt: skip
    finally:
        engine.dispose()


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        report = run(pickle.load(sys.stdin.buffer))
    except link_key.StaleKey as exc:  # the parent raises it as its own
        print(json.dumps({"error": str(exc), "stale_key": exc.said()}), flush=True)
        return 1
    except BaseException as exc:  # reported to the parent, which raises it
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        return 1
    print(json.dumps(asdict(report)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
