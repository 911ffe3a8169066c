"""``shuangsui round draw`` while a coordinator's ceremony holds the round (``api.ceremonies``):
the command drew with whatever digits it was given, racing the ceremony's run; the draw's own
``DrawAlreadyMade`` kept one draw, but whichever came first won, and the ceremony's page said
摇号进行中 for digits that might not be drawn. Now the command refuses other digits while the
hold lasts (exit 7, one line naming who entered the ceremony, when, and until when it holds the
round), audited as ``CeremonyRefused`` and listed with the round's refused ceremonies; the same
digits and witnesses are that ceremony's, and the command draws them (the same draw its run
makes: a round has one draw); once the hold has ended, the command draws as before."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner

from api import adhoc as api_adhoc
from api import ceremonies
from rounds import audit
from rounds.models import Round, RoundStatus
from shuangsui.cli import _register_groups, app
from tests.api.test_ceremony_hold import DIGITS, KEY, Deployment, _committed, _offered
from workspace.events import AdhocRequested


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def _held_by_li(engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """李协调's ceremony holds the round: its run went to the deployment and has not drawn."""
    _committed(engine, tmp_path, monkeypatch)
    params = {"round_key": KEY, "requested_by": "李协调", "witness_digits": DIGITS["李协调"],
              "witnesses": ["王五"]}  # fmt: skip
    entry = AdhocRequested("ccc-2026-12", "投诉举报", "李协调", "ceremony")
    first, _ = api_adhoc.run_ceremony(engine, Deployment(), params, KEY, entry)
    assert first is None


def _draw(cli: CliRunner, name: str, *, by: str = "张运维") -> tuple[int, str]:
    args = ["round", "draw", KEY, "--digits", DIGITS[name], "--witness", "王五", "--by", by]
    out = cli.invoke(app, args)
    return out.exit_code, out.output


def _status(engine: sa.Engine) -> RoundStatus:
    with Session(engine) as s:
        rnd = s.get(Round, KEY)
        assert rnd is not None
        return rnd.status


def _events(engine: sa.Engine) -> list[tuple[str, dict[str, str]]]:
    with Session(engine) as s:
        rows = audit.round_events(s, KEY)
    return [(e.event, json.loads(e.payload)) for e in rows if e.event.startswith("Ceremony")]


def test_other_digits_are_refused_while_a_ceremony_holds_the_round(
    cli: CliRunner, engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _held_by_li(engine, tmp_path, monkeypatch)
    code, said = _draw(cli, "王协调")
    assert code == 7, said
    lines = said.strip().splitlines()
    assert len(lines) == 1, said
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d 北京时间"
    assert re.fullmatch(
        rf"refused: round {KEY} is being drawn with the ceremony 李协调 entered at {when}; it "
        rf"holds the round until {when} \(15 minutes\) unless drawn or failed before; these "
        "digits were not used and the attempt is in the audit log",
        lines[0],
    ), said
    assert _status(engine) is RoundStatus.committed
    refused = [p for e, p in _events(engine) if e == "CeremonyRefused"]
    assert [(p["by"], p["entered_by"], p["offered_sha256"]) for p in refused] == [
        ("张运维", "李协调", _offered("王协调"))
    ]
    with Session(engine) as s:
        [listed] = api_adhoc.refused_ceremonies(s, KEY)
    assert (listed.by, listed.reason, listed.entered_by) == ("张运维", "held", "李协调")

    # the ceremony's own digits and witnesses: drawn, as its run would draw them
    code, said = _draw(cli, "李协调")
    assert code == 0, said
    assert f"round {KEY}: these are the digits of the ceremony 李协调 entered; drawn" in said
    assert _status(engine) is RoundStatus.drawn


def test_once_the_hold_has_ended_the_command_draws_as_before(
    cli: CliRunner, engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _held_by_li(engine, tmp_path, monkeypatch)
    monkeypatch.setattr("api.ceremonies.HOLD", dt.timedelta(0))
    code, said = _draw(cli, "王协调")
    assert code == 0, said
    assert "ceremony" not in said
    assert _status(engine) is RoundStatus.drawn
    assert [e for e, _ in _events(engine)] == ["CeremonyRunCreated"]


def test_the_command_says_what_it_waits_for_when_prefect_is_silent(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    """A ceremony's deployment run holds the round and the configured Prefect accepts the
    connection but never answers: the command waited up to 3 s saying nothing. Now it says
    first what it asks, of which server, and how long it waits at most; then refuses as before."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    _held_by_li(engine, tmp_path, monkeypatch)
    run_id = str(uuid.uuid4())  # as Prefect names a run
    ceremonies.record_run(engine, KEY, _offered("李协调"), "李协调", run_id)
    with socket.socket() as silent:  # listens, and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/api"
        with temporary_settings(updates={PREFECT_API_URL: url}):
            code, said = _draw(cli, "王协调")
    assert code == 7, said
    assert re.search(
        rf"round {KEY} is held by a ceremony's flow run {run_id}: asking "
        rf"Prefect at {re.escape(url)} whether it ended \(at most 3 s\)",
        said,
    ), said
