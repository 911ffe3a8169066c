"""`shuangsui round audit` prints the log's head (SEQ:HASH) for an auditor to write down, and
`--expect SEQ:HASH` fails when the log no longer holds that event with that hash: the last
events deleted (the chain alone still checks), or the log rewritten and its chain computed
again."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from typer.testing import CliRunner

from rounds import audit
from rounds.models import AuditEvent
from shuangsui.cli import _register_groups, app
from shuangsui.errors import IntegrityError, UserError

EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def _log(engine: sa.Engine, n: int) -> list[AuditEvent]:
    for i in range(n):
        audit.append(engine, f"r{i % 3}", audit.EntropyAwaited(reason=f"w{i}"))
    with Session(engine) as session:
        return audit.load_chain(session)


def test_the_head_is_printed_and_expected(cli: CliRunner, engine: sa.Engine) -> None:
    rows = _log(engine, 5)
    out = cli.invoke(app, ["round", "audit"])
    assert out.exit_code == 0, out.output
    assert f"audit log: 5 events, chain ok, head 5:{rows[-1].hash}" in out.output
    for written in (f"5:{rows[-1].hash}", f"3:{rows[2].hash.upper()}"):  # an earlier head too
        ok = cli.invoke(app, ["round", "audit", "r1", "--expect", written])
        assert ok.exit_code == 0, ok.output
        assert f"still holds event {written.split(':')[0]} with the hash expected" in ok.output


def test_a_log_cut_short_fails_the_head_written_down(cli: CliRunner, engine: sa.Engine) -> None:
    """Deleting the last events left a chain that checks ("3 events, chain ok")."""
    rows = _log(engine, 5)
    with engine.begin() as conn:
        conn.execute(sa.delete(EVENTS).where(EVENTS.c.seq > 3))
    assert cli.invoke(app, ["round", "audit"]).exit_code == 0
    bad = cli.invoke(app, ["round", "audit", "--expect", f"5:{rows[-1].hash}"])
    assert bad.exit_code == 1 and isinstance(bad.exception, IntegrityError)
    assert str(bad.exception) == (
        "audit log: event 5 expected, the log ends at event 3 (events were removed from its end)"
    )


def test_a_log_rewritten_with_its_chain_fails_the_head(cli: CliRunner, engine: sa.Engine) -> None:
    """An event's payload changed and every hash from it on computed again: the chain checks,
    the hash written down does not."""
    rows = _log(engine, 4)
    prev = rows[0].hash
    with engine.begin() as conn:
        for row in rows[1:]:
            payload = '{"reason":"changed"}' if row.seq == 2 else row.payload
            at = audit._iso(row.at)
            digest = audit.chain_hash(prev, row.seq, at, row.round_key, row.event, payload)
            conn.execute(
                sa.update(EVENTS)
                .where(EVENTS.c.seq == row.seq)
                .values(payload=payload, prev_hash=prev, hash=digest)
            )
            prev = digest
    assert cli.invoke(app, ["round", "audit"]).exit_code == 0
    bad = cli.invoke(app, ["round", "audit", "--expect", f"4:{rows[-1].hash}"])
    assert bad.exit_code == 1
    assert str(bad.exception).startswith(f"audit log: event 4 has hash {prev}, {rows[-1].hash} ")
    assert "rewritten at or before event 4" in str(bad.exception)


@pytest.mark.parametrize("written", ["5", "x:" + "0" * 64, "0:" + "0" * 64, "5:a", "5:" + "g" * 64])
def test_an_expectation_not_written_as_seq_hash_is_refused(cli: CliRunner, written: str) -> None:
    bad = cli.invoke(app, ["round", "audit", "--expect", written])
    assert bad.exit_code == 1 and isinstance(bad.exception, UserError)
    assert "expected SEQ:HASH" in str(bad.exception)


def test_a_large_event_is_listed_cut_short(cli: CliRunner, engine: sa.Engine) -> None:
    """A findings import's event lists every version it added (about 1 MB for 5,000 rows): the
    listing shows its start and how much more there is, one line, not the megabyte."""
    audit.append(engine, "r0", audit.EntropyAwaited(reason="x" * 50_000))
    audit.append(engine, "r0", audit.EntropyAwaited(reason="short"))
    out = cli.invoke(app, ["round", "audit", "r0"])
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert len(lines) == 3 and max(len(line) for line in lines) < 2_200
    assert lines[1].endswith(" more characters)") and "48,0" in lines[1]
    assert lines[2].endswith('{"reason":"short"}')


@pytest.mark.parametrize("key", ["r9", "../r1", "R1"])
def test_a_round_with_no_event_is_said_not_listed_as_nothing(
    cli: CliRunner, engine: sa.Engine, key: str
) -> None:
    """``round audit ../x`` (or a typo) verified the chain and listed nothing, exit 0: an
    auditor read "no events" as "nothing happened to that round"."""
    _log(engine, 3)
    out = cli.invoke(app, ["round", "audit", key])
    assert out.exit_code != 0 and isinstance(out.exception, UserError), out.output
    assert "chain ok" in out.output  # the chain was still verified, and said so
    assert str(out.exception).startswith(f"round {key!r}: no event of it in the audit log")
    assert cli.invoke(app, ["round", "audit", "r1"]).exit_code == 0
