"""Two syncs of one partner at once (the command run twice, two runs of the sync-partners
flow): every entry applied once, both end without error, the partner's state says ok.

The partner is served over real HTTP on loopback. The interleaving is forced: the first sync
is held as it asks for the partner's entries (after its checkpoint and cosignature), and is
let go only once the second has reached the partner's turn (its lock) or, without one, has
finished a sync of its own. The command that waits says so on stderr."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import Result
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from exchange import sync, turns
from exchange.directory import load_directory
from exchange.keys import load_or_create
from exchange.models import PartnerEntry, PartnerState
from exchange.sync import SyncOutcome, sync_partner
from shuangsui.cli import _register_groups, app
from tests.exchange.bureaus import make_bureau, publish, served, write_directory

CODES = [f"91350100MA{i:07d}X" for i in range(6)]
SECOND = "second-sync"


class HoldFirst(httpx.HTTPTransport):
    """Real HTTP; the first sync's first request for entries waits for ``go_on``."""

    def __init__(self, held: threading.Event, go_on: threading.Event) -> None:
        super().__init__()
        self.held, self.go_on = held, go_on

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        first = threading.current_thread().name != SECOND
        if first and request.url.path.endswith("/entries") and not self.held.is_set():
            self.held.set()
            assert self.go_on.wait(120)
        return super().handle_request(request)


def test_a_sync_started_while_another_syncs_the_same_partner_waits_its_turn(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sh = make_bureau(tmp_path, "310000")
    for i, code in enumerate(CODES):
        publish(sh, code, n=i)
    fj = make_bureau(tmp_path / "unused", "350000")
    fj.key, fj.base_url = load_or_create(), "http://fj.test"
    write_directory(sh.home / "partners.toml", [fj])
    held, go_on, reached = threading.Event(), threading.Event(), threading.Event()
    real_turn = sync.partner_turn

    def partner_turn(engine: sa.Engine, code: str, *args: Any) -> Any:
        if threading.current_thread().name == SECOND:
            reached.set()
        return real_turn(engine, code, *args)

    monkeypatch.setattr(sync, "partner_turn", partner_turn)
    outcomes: dict[str, SyncOutcome] = {}
    failed: list[BaseException] = []

    with served(sh) as url:
        sh.base_url = url
        write_directory(tmp_path / "home" / "partners.toml", [sh])
        partner = load_directory()["310000"]

        def run() -> None:
            name = threading.current_thread().name
            try:
                outcomes[name] = sync_partner(
                    engine, partner, transport=HoldFirst(held, go_on), timeout=60
                )
            except BaseException as exc:  # the test reports it
                failed.append(exc)
            finally:
                if name == SECOND:
                    reached.set()

        first = threading.Thread(target=run, name="first-sync")
        first.start()
        try:
            assert held.wait(60), f"the first sync never asked for the entries: {failed}"
            second = threading.Thread(target=run, name=SECOND)
            second.start()
            assert reached.wait(60), "the second sync never reached the partner"
        finally:
            go_on.set()
            first.join(300)
        second.join(300)

    assert failed == []
    assert {o.status for o in outcomes.values()} == {"ok"}, outcomes
    assert sorted(o.applied for o in outcomes.values()) == [0, len(CODES)]
    with Session(engine) as s:
        held_entries = s.exec(select(func.count()).select_from(PartnerEntry)).one()
        state = s.get(PartnerState, "310000")
    assert held_entries == len(CODES)
    assert state is not None
    assert (state.size, state.status, state.last_error) == (len(CODES), "ok", None)


def test_the_command_waiting_for_another_sync_of_the_partner_says_so_once_on_stderr(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``partners sync`` while another sync of the partner runs: the operator at the terminal is
    told, once, on stderr, which partner it waits for and why, not only the log; then it syncs.
    Forced: the test holds the partner's turn until the command has begun to wait for it."""
    sh = make_bureau(tmp_path, "310000")
    publish(sh, CODES[0])
    fj = make_bureau(tmp_path / "unused", "350000")
    fj.key, fj.base_url = load_or_create(), "http://fj.test"
    write_directory(sh.home / "partners.toml", [fj])
    waiting, real_waiting = threading.Event(), turns._waiting

    def told(*args: Any) -> None:
        real_waiting(*args)
        waiting.set()

    monkeypatch.setattr(turns, "_waiting", told)
    _register_groups()
    ran: list[Result] = []
    with served(sh) as url:
        sh.base_url = url
        write_directory(tmp_path / "home" / "partners.toml", [sh])
        command = threading.Thread(
            target=lambda: ran.append(CliRunner().invoke(app, ["partners", "sync", "310000"]))
        )
        with turns.partner_turn(engine, "310000"):  # the other sync
            command.start()
            assert waiting.wait(60), "the command never waited for the partner's turn"
        command.join(120)

    (result,) = ran
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "partner 310000 (局310000): another sync of it is under way; waiting for it to end\n"
    )
    assert "310000 ok: 0 -> 1 (1 new)" in result.stdout
