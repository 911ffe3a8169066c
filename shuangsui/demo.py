"""``make demo``: a bureau's month on the embedded default (SQLite, Prefect's local API).

It generates a registry, imports it, commits the month's rounds, holds the draw ceremony
(witness digits entered *after* the commitments are printed), draws, writes and checks the
verification bundles, and delivers the assignment notices to the file outbox. The last line
printed is the path of the main artefact.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from pathlib import Path

DEMO_PERIOD = "2026-12"
# In a real ceremony these digits come from 20+ ten-sided dice rolled in public after the
# commitments below are announced; the demo plays them from a fixed script.
CEREMONY_DIGITS = "50288419716939937510582097494459"
WITNESSES = ["纪检监察室 陈明", "企业代表 林晓", "公证员 黄海"]


def _quiet_prefect() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # the demo prints its own account of each step; Prefect's run logs stay in its database
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("PREFECT_LOGGING_SERVER_LEVEL", "ERROR")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("PREFECT_CLI_COLORS", "false")
    # the temporary API server migrates a fresh SQLite at first start: give a busy machine time
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


# the repository's plans, wherever the demo is run from: from another folder, ``plans`` of the
# working directory was looked for, and the demo stopped with a traceback
PLANS = Path(__file__).resolve().parents[1] / "plans"


def main() -> int:
    home = Path(os.environ.get("SHUANGSUI_HOME", ".shuangsui")).resolve() / "demo"
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    os.environ["SHUANGSUI_HOME"] = str(home)
    os.environ.setdefault("SHUANGSUI_PLANS_DIR", str(PLANS))
    os.environ.setdefault("SHUANGSUI_ENTROPY_SOURCES", "witness-digits")
    os.environ.setdefault("SHUANGSUI_NOTIFY_CHANNEL", "file")
    os.environ.setdefault("SHUANGSUI_NOTIFY_COORDINATOR_NAME", "双随机工作专班")
    os.environ.setdefault("SHUANGSUI_NOTIFY_COORDINATOR_EMAIL", "coordinator@fjrz.example.cn")
    os.environ.setdefault("PREFECT_HOME", str(home / "prefect"))
    _quiet_prefect()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    from shuangsui.config import get_settings
    from shuangsui.db import get_engine, migrate, session_scope

    settings = get_settings()
    console.print(f"[bold]shuangsui demo[/] — {settings.bureau_name} ({settings.bureau_code})")
    console.print(f"data directory {home}, database {settings.database_url_for_logs}")
    migrate(settings.resolved_database_url)
    engine = get_engine(settings)

    with console.status("generating a registry (20,000 enterprises, 400 inspectors)…"):
        from registry.generate import generate

        regdir = home / "registry"
        generate(enterprises=20_000, inspectors=400, seed=2026, out=regdir)
    with console.status("importing the registry…"):
        from registry.importer import import_files

        kinds = ["check-items", "enterprises", "certificates", "inspectors", "conflicts"]
        t0 = time.perf_counter()
        with session_scope(engine) as session:
            results = import_files(session=session, files=[(k, regdir / f"{k}.csv") for k in kinds])
        took = time.perf_counter() - t0
    for r in results:
        console.print(f"  imported {r.kind:<13} {r.inserted:>7} rows from {Path(r.file).name}")
    console.print(f"  ({took:.1f} s)")
    from registry.cli import stats_command

    stats_command(as_json=False)

    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.rounds import monthly_round

    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        with console.status(f"monthly-round {DEMO_PERIOD}: committing plans and frames…"):
            committed = monthly_round(period=DEMO_PERIOD)
        console.print(f"\n[bold]Commitments for {DEMO_PERIOD}[/] (published before the ceremony):")
        for s in committed:
            console.print(
                f"  {s['round_key']:<16} frame {s['frame_commitment'][:24]}… "
                f"({s['frame_size']} enterprises, {s['inspector_frame_size']} inspectors)"
            )
        console.print(
            f"\n[bold]Draw ceremony[/]: witnesses {', '.join(WITNESSES)} enter {CEREMONY_DIGITS}"
        )
        with console.status(f"monthly-round {DEMO_PERIOD}: drawing with the ceremony's digits…"):
            drawn = monthly_round(
                period=DEMO_PERIOD, witness_digits=CEREMONY_DIGITS, witnesses=WITNESSES
            )
        with console.status("dispatch-notifications: delivering assignment notices…"):
            from flows.notifications import dispatch_notifications

            outbox = dispatch_notifications()
    for s in drawn:
        total = sum(c["drawn"] for c in s["counts"].values())
        targeted = sum(c["targeted"] for c in s["counts"].values())
        console.print(
            f"  {s['round_key']:<16} seed {s['seed'][:24]}…  drawn {total} at random"
            f" + {targeted} targeted"
        )

    sent = outbox["report"]["sent"]
    console.print(
        f"  notices: {sent} delivered to the file outbox {home / 'outbox'}"
        f" (status {dict(sorted(outbox['counts'].items()))})"
    )

    from rounds.bundle import run_verify_script

    for s in drawn:
        bundle = Path(s["bundle"])
        proc = run_verify_script(bundle)
        status = "verified" if proc.returncode == 0 else "FAILED"
        console.print(f"  bundle {bundle} — verify.py: {status}")
        if proc.returncode != 0:
            console.print(proc.stdout + proc.stderr)
            return 1

    replaced_in = _replace_one(console, engine, drawn[0]["round_key"])

    from shuangsui.demo_checks import inspect

    with console.status("inspectors report their findings (both team members sign)…"):
        for n, s in enumerate(drawn):
            final = inspect(engine, s["round_key"], share=0.6, seed=2026 + n)
            console.print(f"  {s['round_key']:<16} {final} findings final (two-person rule)")

    from flows.publish import publish_results

    site = home / "site"
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        with console.status("publish-results: rendering the public site and open data…"):
            report = publish_results(out=str(site))
    console.print(
        f"  public site: {len(report['written'])} files written, {report['newly_published']}"
        f" results newly published, under {site}"
    )
    _play_to_window_close(console, engine, settings, site, [s["round_key"] for s in drawn])
    published = site / "rounds" / replaced_in / "bundle"
    proc = run_verify_script(published)
    replayed = next((x for x in proc.stdout.splitlines() if x.startswith("replacements:")), "")
    console.print(f"  site bundle {published} — verify.py: "
                  f"{'verified' if proc.returncode == 0 else 'FAILED'} ({replayed})")  # fmt: skip
    if proc.returncode != 0:
        console.print(proc.stdout + proc.stderr)
        return 1
    workspace = f"{settings.public_base_url.rstrip('/')}/w/c/open?token=<token>"
    console.print(f"  workspace: `shuangsui serve`, then open {workspace} and press 进入")
    console.print("  (a token: `shuangsui tokens create-coordinator NAME`)")
    console.print(
        "  next: `. .venv/bin/activate` puts the `shuangsui` command on your PATH (or call "
        f"`.venv/bin/shuangsui`); `SHUANGSUI_HOME={home} shuangsui round list` shows this "
        'demo\'s rounds; README.md "Using it" starts from a fresh folder'
    )
    print(site / "index.html")
    return 0


def _replace_one(console, engine, round_key: str) -> str:  # type: ignore[no-untyped-def]
    """An inspector declares a conflict with an enterprise once the notice names it (回避):
    the coordinator withdraws them and the round's seed picks who takes the seat
    (docs/draw-algorithm.md §14). Returns the round."""
    import datetime as dt

    from rounds.replacements import bureau_today, replace_member
    from rounds.service import get_round
    from shuangsui.demo_checks import teams_of

    code, team = next(iter(sorted(teams_of(engine, round_key).items())))
    # each check is due on the window's last day; once it is gone (the demo's month run after
    # it), a replacement needs a new date (docs/draw-algorithm.md §14)
    today = bureau_today()
    gone = get_round(engine, round_key).window_end < today
    done = replace_member(
        engine, round_key, code, team[0], cause="conflict",
        note="演示：该检查人员申报其亲属在该企业任职，申请回避", recorded_by="双随机工作专班",
        due_on=today + dt.timedelta(days=14) if gone else None,
    )  # fmt: skip
    console.print(
        f"  {round_key}: {team[0]} declared a conflict with {code} (回避); the seed picks "
        f"{done.replacement.replacement} for the seat (replacement 1, audited and in the bundle)"
    )
    return round_key


def _play_to_window_close(console, engine, settings, site: Path, keys: list[str]) -> None:  # type: ignore[no-untyped-def]
    """The month played through: the plans leave ``disclosure`` out, so (after-window) a drawn
    list stays off the site and the partner feed until its check window closes, while results
    already final are published. The demo publishes once more as at 00:00 Beijing time after
    the last window, as the scheduled publish-results run would: the site then shows every
    drawn enterprise, the month's results and the bundles."""
    import json

    from rounds import disclosure
    from rounds.service import get_round
    from shuangsui.clock import local_label
    from website.site import publish

    shown = json.loads((site / "data" / "rounds.json").read_text(encoding="utf-8"))
    withheld = [r["round_key"] for r in shown if not r["revealed"]]
    if not withheld:
        return
    console.print(
        f"  drawn lists of {', '.join(withheld)} withheld until their check windows close"
        " (disclosure: after-window); the results already final are on the site"
    )
    last = max(get_round(engine, key).window_end for key in keys)
    closes = disclosure.window_closes(last, settings.timezone)
    with console.status("publish-results after the check windows close…"):
        report = publish(engine, site, settings=settings, now=closes)
    console.print(
        f"  {local_label(closes, settings.timezone)}, the windows closed: publish revealed"
        f" {', '.join(report.revealed) or 'nothing'} (pages, open data, bundles; round"
        f" records to partners), {len(report.written)} files written"
    )


if __name__ == "__main__":
    sys.exit(main())
