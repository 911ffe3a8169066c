"""``shuangsui notifications relink --all-open``: after ``SHUANGSUI_SECRET_KEY`` is rotated,
every drawn round with an open check is given its links again by one command, each round in a
transaction of its own. Before, a coordinator ran ``--round KEY`` once per round; a round
forgotten left its inspectors locked out (403), nothing telling anyone."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from findings import service as findings
from notifications.dispatch import dispatch
from notifications.links import verify_assignment_token
from notifications.models import Notification, NotificationKind
from rounds import service as rounds
from rounds.models import AuditEvent, Round, RoundStatus
from shuangsui import config
from shuangsui.cli import _register_groups, app
from shuangsui.config import get_settings
from shuangsui.errors import UserError
from tests.deploy.procs import shuangsui
from tests.findings.factories import finding, teams
from tests.rounds.factories import plan_yaml, seed_registry

BY, REASON = "李协调", "密钥泄露，已更换"
KEY = "relink-all-open-key-two-0123456789abcdefghij"
OPEN = ["ccc-2026-12", "ccc-2027-01"]  # drawn, checks open
CLOSED = "ccc-2026-11"  # closed: every finding final and published
FINISHED = "ccc-2026-10"  # drawn, every finding final: nothing to send


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def _draw(engine: sa.Engine, key: str) -> None:
    rounds.commit_round(engine=engine, plan_text=plan_yaml(plan_id=key, period=key[4:]))
    rounds.draw_round(engine=engine, round_key=key, entropy=rounds.EntropyInput(
        witness_digits="3141592653589793238462643", witnesses=("张三",)))  # fmt: skip


def _all_final(engine: sa.Engine, key: str) -> None:
    for code, team in teams(engine, key).items():
        checked = finding(check_date=dt.date(int(key[4:8]), int(key[9:]), 10))
        v = findings.submit(engine, round_key=key, credit_code=code, data=checked,
                            submitted_by=f"inspector:{team[0]}", signers=[team[0]])  # fmt: skip
        for member in team[1:]:
            findings.sign_off(engine, round_key=key, credit_code=code, version=v.version,
                              inspector_id=member)  # fmt: skip


def _rounds(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[tuple]]:
    """Two drawn rounds with open checks, one closed, one drawn with every finding final, their
    notices delivered to the file outbox; the seats (inspector, credit code) of each round."""
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    seed_registry(engine)
    for key in [*OPEN, CLOSED, FINISHED]:
        _draw(engine, key)
    _all_final(engine, FINISHED)
    with Session(engine) as s:
        closed = s.get(Round, CLOSED)
        assert closed is not None
        closed.status = RoundStatus.closed
        s.add(closed)
        s.commit()
    dispatch(engine=engine)
    return {
        key: sorted((m, c) for c, team in teams(engine, key).items() for m in team)
        for key in [*OPEN, CLOSED, FINISHED]
    }


def _rotate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHUANGSUI_SECRET_KEY", KEY)
    config.get_settings.cache_clear()


def _reissued(engine: sa.Engine) -> dict[str, list[tuple[str, str]]]:
    """The seats sent a 检查链接重新发送, by round."""
    with Session(engine) as s:
        rows = s.exec(
            select(Notification).where(Notification.kind == NotificationKind.link_reissued)
        ).all()
    out: dict[str, list[tuple[str, str]]] = {}
    for n in rows:
        out.setdefault(n.round_key or "", []).append((n.recipient, n.payload["credit_code"]))
    return {key: sorted(seats) for key, seats in out.items()}


def _all_open(cli: CliRunner, *extra: str, code: int = 0) -> str:
    done = cli.invoke(app, ["notifications", "relink", "--all-open", "--by", BY,
                            "--reason", REASON, *extra])  # fmt: skip
    assert done.exit_code == code, (done.output, done.exception)
    return done.output


def test_all_open_gives_every_drawn_round_with_open_work_its_links_again(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    seats = _rounds(engine, monkeypatch)
    _rotate(monkeypatch)
    said = _all_open(cli)
    assert _reissued(engine) == {key: seats[key] for key in OPEN}
    secret = get_settings().secret_key.get_secret_value()
    with Session(engine) as s:
        for n in s.exec(select(Notification).where(
                Notification.kind == NotificationKind.link_reissued)):  # fmt: skip
            token = parse_qs(urlsplit(n.payload["link"]).query)["token"][0]
            assert verify_assignment_token(secret, n.round_key or "", n.payload["credit_code"],
                                           n.recipient, token)  # fmt: skip
    lines = said.splitlines()
    for key in OPEN:
        members = len({m for m, _ in seats[key]})
        assert (
            f"round {key}: queued {len(seats[key])} new link(s) to {members} inspector(s); "
            "0 queued before for this reason and key; 0 waiting message(s) written again "
            "with the current link; 0 left out"
        ) in lines, said
    assert f"round {FINISHED}: skipped: no open check (every finding is final)" in lines, said
    assert CLOSED not in said  # not drawn: not a round with links out
    total = sum(len(seats[key]) for key in OPEN)
    assert lines[-1] == (
        f"all open rounds: 2 given their links again (queued {total} new link(s), 0 queued "
        "before, 0 written again, 0 left out), 1 skipped, none failed"
    ), said
    with Session(engine) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.event == "LinksReissued")).all()
    assert sorted(e.round_key for e in events) == OPEN  # the skipped round: no entry
    assert all(json.loads(e.payload)["reason"] == REASON for e in events)

    again = _all_open(cli)  # a coordinator unsure it went through
    assert _reissued(engine) == {key: seats[key] for key in OPEN}
    assert again.splitlines()[-1] == (
        f"all open rounds: 2 given their links again (queued 0 new link(s), {total} queued "
        "before, 0 written again, 0 left out), 1 skipped, none failed"
    ), again


def _refused(cli: CliRunner, *args: str) -> str:
    done = cli.invoke(app, ["notifications", "relink", *args])
    assert isinstance(done.exception, UserError), (done.output, done.exception)
    assert done.exception.exit_code == 2
    return str(done.exception)


def test_round_and_all_open_one_of_them_and_inspector_only_with_round(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    seats = _rounds(engine, monkeypatch)
    _rotate(monkeypatch)
    ok = ["--by", BY, "--reason", REASON]
    neither = _refused(cli, *ok)
    assert neither.startswith("--round or --all-open: give one of them"), neither
    both = _refused(cli, "--round", OPEN[0], "--all-open", *ok)
    assert both.startswith("--round and --all-open: give one of them, not both"), both
    who = seats[OPEN[0]][0][0]
    alone = _refused(cli, "--all-open", "--inspector", who, *ok)
    assert alone.startswith("--inspector: only with --round"), alone
    blank = _refused(cli, "--all-open", "--by", " ", "--reason", REASON)
    assert blank.startswith("--by: say who sends the links again"), blank
    long = _refused(cli, "--all-open", "--by", BY, "--reason", "长" * 501)
    assert long == "--reason: 501 characters, at most 500"
    assert _reissued(engine) == {}
    # as a coordinator types it: one line, exit 2
    home = Path(get_settings().home)
    typed = shuangsui(home.parent, "notifications", "relink", "--round", OPEN[0], "--all-open",
                      *ok, SHUANGSUI_DATABASE_URL=get_settings().resolved_database_url,
                      SHUANGSUI_HOME=str(home), SHUANGSUI_ENVIRONMENT="test")  # fmt: skip
    assert typed.returncode == 2, typed.stderr
    said = typed.stderr.strip().splitlines()[-1]
    assert said == "error: --round and --all-open: give one of them, not both", typed.stderr
    assert _reissued(engine) == {}


def test_a_round_that_fails_leaves_the_others_done_and_is_named(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    """The first round's relink fails in its transaction (its refusal hook, which reads the
    members' links, raises): nothing of it is written, the next round is given its links all
    the same, the output names the round that failed and says running again is safe; run
    again, the failed round is done and the other queues nothing more."""
    import api.link_refusals

    seats = _rounds(engine, monkeypatch)
    _rotate(monkeypatch)
    broken, fine = OPEN
    real = api.link_refusals.link_refusals

    def failing(settings: config.Settings):  # type: ignore[no-untyped-def]
        refusals = real(settings)

        def refused(session: Session, round_key: str, code: str, members: list[str]):  # type: ignore[no-untyped-def]
            if round_key == broken:
                raise RuntimeError("the token table could not be read")
            return refusals(session, round_key, code, members)

        return refused

    monkeypatch.setattr(api.link_refusals, "link_refusals", failing)
    said = _all_open(cli, code=1)
    assert _reissued(engine) == {fine: seats[fine]}
    lines = said.splitlines()
    assert (
        f"round {broken}: FAILED, nothing of it written: RuntimeError: the token table could "
        "not be read"
    ) in lines, said
    assert any(line.startswith(f"round {fine}: queued {len(seats[fine])} new") for line in lines)
    assert f"1 failed ({broken}): running the same command again is safe" in said, said
    with Session(engine) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.event == "LinksReissued")).all()
    assert [e.round_key for e in events] == [fine]

    monkeypatch.setattr(api.link_refusals, "link_refusals", real)
    again = _all_open(cli)
    assert _reissued(engine) == {key: seats[key] for key in OPEN}
    assert f"round {fine}: queued 0 new link(s) to 0 inspector(s); {len(seats[fine])} " in again
    assert f"round {broken}: queued {len(seats[broken])} new link(s)" in again


@pytest.mark.postgres
def test_a_round_held_by_another_session_fails_alone_and_the_rest_are_done(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    """A real database failure: another session holds the first round's row (as a replacement
    does while it is made) and the bureau's database gives up waiting for a lock
    (``lock_timeout``, as a DBA sets it on the role): that round's relink fails in its own
    transaction, tried again and given up, and the next round is given its links all the
    same; run again once the lock is gone, the failed round is done."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks and lock_timeout; SQLite serialises writers")
    seats = _rounds(engine, monkeypatch)
    _rotate(monkeypatch)
    held, fine = OPEN
    url = sa.make_url(get_settings().resolved_database_url)
    options = f"{url.query.get('options', '')} -c lock_timeout=50".strip()
    impatient = url.update_query_dict({"options": options})
    monkeypatch.setenv("SHUANGSUI_DATABASE_URL", impatient.render_as_string(hide_password=False))
    config.get_settings.cache_clear()
    with engine.connect() as other, other.begin():
        other.execute(sa.text("SELECT 1 FROM round WHERE round_key = :k FOR UPDATE"), {"k": held})
        said = _all_open(cli, code=1)
    assert _reissued(engine) == {fine: seats[fine]}
    assert (
        f"round {held}: FAILED, nothing of it written: another change of the round held it "
        "each time it was tried (canceling statement due to lock timeout)"
    ) in said.splitlines(), said
    assert f"1 failed ({held})" in said, said
    again = _all_open(cli)
    assert _reissued(engine) == {key: seats[key] for key in OPEN}
    assert again.splitlines()[-1].endswith("1 skipped, none failed"), again
