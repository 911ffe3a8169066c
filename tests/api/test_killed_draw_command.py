"""A ``shuangsui round draw`` killed mid-draw held its round 15 minutes (the ceremony's rule:
a process that dies records nothing): the coordinator running the command again, or entering
the ceremony on the round's page, was refused (exit 7, 另一场仪式 / 摇号进行中) for a process
that no longer existed. Now the command records its process with its hold (host, pid, and the
host's boot, PID namespace and the process's start: ``api.ceremonies.Process``), and a hold
whose process is provably gone on this host (no such process, a zombie, or its pid now
another process's) holds nothing: a new ``round draw`` or ceremony takes the round, ending
that hold first (``CeremonyEnded``, naming the process) and saying so. A hold from another host,
or from a process that runs, keeps its 15 minutes; of two commands taking over at once, one
draws and the other is refused (the round's lock).

The killed command is a real process, killed with SIGKILL at its draw; the takers are
processes too. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from api import ceremonies
from rounds import audit
from rounds.models import Round, RoundStatus
from tests.api.test_ceremony_hold import DIGITS, KEY, _committed
from workspace.events import CeremonyEntered, DrawCommandEntered

KILLED_DIGITS = "16180339887498948482"
# `round draw` whose draw never returns: it holds the round, then waits to be killed
STUCK = """
import sys, time
import rounds.service as service
def stuck(**kwargs):
    print("drawing", flush=True)
    time.sleep(600)
service.draw_round = stuck
from shuangsui.cli import main
main()
"""


def _draw(db_url: str, digits: str, by: str, stuck: bool = False) -> subprocess.Popen[str]:
    code = ["-c", STUCK] if stuck else ["-m", "shuangsui"]
    return subprocess.Popen(
        [sys.executable, *code, "round", "draw", KEY, "--digits", digits, "--witness", "王五",
         "--by", by],
        env=os.environ | {"SHUANGSUI_DATABASE_URL": db_url}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _killed_at_its_draw(db_url: str) -> subprocess.Popen[str]:
    """A ``round draw`` by 张运维 killed (SIGKILL) at its draw, holding the round; not reaped
    yet (a zombie: the caller waits for it)."""
    proc = _draw(db_url, KILLED_DIGITS, "张运维", stuck=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == "drawing\n", (line, proc.stderr.read() if proc.stderr else "")
    proc.send_signal(signal.SIGKILL)
    os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # dead, and left a zombie
    return proc


def _events(engine: sa.Engine) -> list[tuple[str, dict[str, Any]]]:
    with Session(engine) as s:
        rows = audit.round_events(s, KEY)
    return [(e.event, json.loads(e.payload)) for e in rows]


def _status(engine: sa.Engine) -> RoundStatus:
    with Session(engine) as s:
        rnd = s.get(Round, KEY)
        assert rnd is not None
        return rnd.status


def test_a_draw_command_killed_mid_draw_lets_the_next_one_take_the_round(
    engine: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _committed(engine, tmp_path, monkeypatch)
    killed = _killed_at_its_draw(db_url)
    try:
        hold = ceremonies.hold_of(engine, KEY)  # the round's page: no longer being drawn
        assert hold is not None and not hold.live, hold
        assert f"process {killed.pid} on " in hold.error and "is gone" in hold.error, hold

        again = _draw(db_url, DIGITS["李协调"], "李运维")
        out, err = again.communicate(timeout=180)
    finally:
        killed.communicate(timeout=30)  # reaped, its pipes closed
    assert again.returncode == 0, (out, err)
    assert re.search(
        rf"the `shuangsui round draw` run by 张运维 at .+ held the round, but its "
        rf"process {killed.pid} on \S+ is gone; its hold is ended",
        err,
    ), err
    assert _status(engine) is RoundStatus.drawn

    events = _events(engine)
    names = [e for e, _ in events]
    at = names.index("DrawCommandEntered")
    assert names[at : at + 4] == ["DrawCommandEntered", "CeremonyEnded", "DrawCommandEntered",
                                  "DrawMade"], names  # fmt: skip
    assert names.count("DrawMade") == 1 and "CeremonyRefused" not in names, names
    first, ended, second = (p for e, p in events if e in ("DrawCommandEntered", "CeremonyEnded"))
    assert first["by"] == "张运维" and first["pid"] == killed.pid and first["process"], first
    assert ended["by"] == "张运维" and f"process {killed.pid}" in ended["error"], ended
    assert "李运维 took the round" in ended["error"], ended
    assert second["by"] == "李运维" and second["pid"] == again.pid, second


def test_of_two_commands_taking_over_at_once_one_draws(
    engine: sa.Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _committed(engine, tmp_path, monkeypatch)
    _killed_at_its_draw(db_url).communicate(timeout=30)
    takers = [_draw(db_url, DIGITS[name], name) for name in DIGITS]
    said = [t.communicate(timeout=180) for t in takers]
    codes = sorted(t.returncode for t in takers)
    # the other: refused while the first held the round (7), or once it was drawn (4)
    assert codes in ([0, 4], [0, 7]), said
    assert _status(engine) is RoundStatus.drawn
    names = [e for e, _ in _events(engine)]
    assert names.count("CeremonyEnded") == 1 and names.count("DrawMade") == 1, names
    assert names.count("CeremonyRefused") + names.count("DrawRefused") == 1, names


def _recorded(engine: sa.Engine, process: ceremonies.Process) -> None:
    offered = ceremonies.offered_sha256(KILLED_DIGITS, ["王五"])
    entry = DrawCommandEntered("张运维", offered, process.host, process.pid, process.mark)
    assert ceremonies.take(engine, KEY, entry, offered) == ceremonies.Took()


def _ceremony_taken(engine: sa.Engine) -> ceremonies.Took:
    offered = ceremonies.offered_sha256(DIGITS["王协调"], ["王五"])
    return ceremonies.take(engine, KEY, CeremonyEntered("p", "王协调", offered), offered)


def test_a_hold_whose_pid_is_now_another_process_is_taken_over(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PID reuse: the pid runs, but started at another time than the one recorded."""
    _committed(engine, tmp_path, monkeypatch)
    me = ceremonies.this_process()
    assert me.mark, "no /proc here"
    boot, namespace, started = me.mark.split("|")
    _recorded(engine, ceremonies.Process(me.host, me.pid, f"{boot}|{namespace}|{started}0"))
    took = _ceremony_taken(engine)
    assert took.taken_over is not None and took.refused_by is None, took
    names = [e for e, _ in _events(engine)]
    assert names[-3:] == ["DrawCommandEntered", "CeremonyEnded", "CeremonyEntered"], names


@pytest.mark.parametrize("where", ["this process", "another host", "another boot", "unknown"])
def test_a_hold_whose_process_may_run_keeps_the_round(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A process that runs, one on another host (or recorded before a reboot, or without its
    start: nothing is proved of them) holds the round as before: refused, naming 命令行."""
    _committed(engine, tmp_path, monkeypatch)
    me = ceremonies.this_process()
    gone = os.getpid() + 4_000_000  # above any pid_max: no such process here
    process = {
        "this process": me,
        "another host": ceremonies.Process(f"{me.host}-other", gone, me.mark),
        "another boot": ceremonies.Process(me.host, gone, "0000|" + me.mark.split("|", 1)[1]),
        "unknown": ceremonies.Process(me.host, gone, ""),
    }[where]
    _recorded(engine, process)
    took = _ceremony_taken(engine)
    assert took.refused_by is not None and took.refused_by.by_command, took
    refused = [p for e, p in _events(engine) if e == "CeremonyRefused"]
    assert refused[-1]["by_command"] is True, refused
    hold = ceremonies.hold_of(engine, KEY)
    assert hold is not None and hold.live, hold
