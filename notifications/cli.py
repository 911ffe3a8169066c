"""``shuangsui notifications ...``: deliver, inspect and re-queue messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from notifications.settings import CONCURRENCY_MAX
from shuangsui.keys import ROW_ID_MAX

if TYPE_CHECKING:
    from notifications.relink import Refusals, Relinked

app = typer.Typer(
    help="Messages to inspectors and coordinators (the outbox).", no_args_is_help=True
)

LISTED = 20  # rows of each list `status` prints (a mail server down leaves one a member)
RoundArg = Annotated[str | None, typer.Argument(help="only this round")]


def _engine():  # type: ignore[no-untyped-def]
    """The configured database, migrated to head first (cheap when current)."""
    from shuangsui.config import get_settings
    from shuangsui.db import get_engine, migrate

    settings = get_settings()
    migrate(settings.resolved_database_url)
    return get_engine(settings)


@app.command("status")
def status(round_key: RoundArg = None) -> None:
    """Counts per status, every paused channel, the messages waiting for a retry and those
    waiting at an address the registry no longer holds (by recipient and address), and every
    dead letter with its last error."""
    from notifications.admin import dead_letters, misaddressed, retrying, status_counts
    from notifications.breaker import paused_channels
    from shuangsui.db import session_scope

    engine = _engine()
    with session_scope(engine) as session:
        counts = status_counts(session=session, round_key=round_key)
        dead = dead_letters(session=session, round_key=round_key)
        again = retrying(session=session, round_key=round_key)
        stale = misaddressed(session=session, round_key=round_key)
    typer.echo("  ".join(f"{k}: {v}" for k, v in counts.items()))
    for p in paused_channels(engine):
        typer.echo(
            f"paused {p.channel}: down since {p.down_since:%Y-%m-%d %H:%M:%S}, "
            f"{p.failures} failed connection(s), next try after "
            f"{p.paused_until:%Y-%m-%d %H:%M:%S} UTC: {p.last_error}"
        )
    for r in again[:LISTED]:
        typer.echo(
            f"to retry: {r.messages} message(s) to {r.recipient} via {r.channel} <{r.address}>, "
            f"up to {r.attempts} attempt(s) spent, next try after "
            f"{r.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC: {r.last_error}"
        )
    _more(again[LISTED:], "to retry")
    for m in stale[:LISTED]:
        now = f"{m.channel} <{m.address}>" if m.address else "no usable email or webhook"
        typer.echo(
            f"not the registry's address: {m.messages} waiting message(s) to {m.recipient} via "
            f"{m.old_channel} <{m.old_address}>; the registry holds {now} for them now"
            + ("" if m.address else ": correct it, and its import sends them there")
        )
    _more(stale[LISTED:], "not the registry's address")
    for d in dead:
        typer.echo(
            f"dead #{d.id} {d.round_key} {d.kind} to {d.recipient} via {d.channel} "
            f"<{d.address}> after {d.attempts} attempt(s): {d.last_error}"
        )


def _more(rows: list, what: str) -> None:  # type: ignore[type-arg]
    if rows:
        typer.echo(f"{what}: and {sum(r.messages for r in rows)} message(s) more to "
                   f"{len(rows)} other recipient address(es)")  # fmt: skip


@app.command("retry")
def retry(round_key: RoundArg = None) -> None:
    """Re-queue dead letters (with each recipient's current address)."""
    from notifications.admin import retry_dead
    from shuangsui.db import session_scope

    with session_scope(_engine()) as session:
        n = retry_dead(session=session, round_key=round_key)
    typer.echo(f"re-queued {n} message(s)")


@app.command("dispatch")
def dispatch_cmd(
    round_key: Annotated[str | None, typer.Option("--round", help="only this round")] = None,
    batch_size: Annotated[
        # a LIMIT: a larger one was a traceback from the database (past SQLite's eight bytes)
        int | None, typer.Option(min=1, max=ROW_ID_MAX, help="messages claimed at a time")
    ] = None,
    # a worker is a thread with its own SMTP session and database connection: a count past
    # CONCURRENCY_MAX is a slip of the keyboard (99999999999999999999 started threads without end)
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=CONCURRENCY_MAX, help="parallel deliveries")
    ] = None,
) -> None:
    """Deliver every message that is due, once."""
    from notifications.dispatch import dispatch

    report = dispatch(
        engine=_engine(), batch_size=batch_size, concurrency=concurrency, round_key=round_key
    )
    typer.echo(
        f"claimed {report.claimed}, sent {report.sent}, to retry {report.retried}, "
        f"waiting for their channel {report.deferred}, dead {report.dead} "
        f"in {report.elapsed:.2f}s"
    )


@app.command("remind")
def remind(
    within: Annotated[
        int, typer.Option(min=0, help="remind when a deadline is this many working days away")
    ] = 3,
) -> None:
    """Queue reminders of near deadlines and overdue escalations to the coordinator."""
    from notifications.outbox import enqueue_overdue_escalations, enqueue_reminders
    from rounds.closing import findings_in
    from shuangsui.db import session_scope

    engine = _engine()
    state = findings_in(engine)  # a check done is neither reminded nor escalated
    with session_scope(engine) as session:
        r = enqueue_reminders(session=session, within_working_days=within, done=state.done,
                              signed=state.signed)  # fmt: skip
        o = enqueue_overdue_escalations(session=session, done=state.done)
    typer.echo(f"queued {r} reminder(s), {o} escalation(s)")


@app.command("relink")
def relink_cmd(
    by: Annotated[str, typer.Option("--by", help="who sends them (kept in the audit log)")],
    reason: Annotated[
        str, typer.Option("--reason", help="why: a key rotated, a notice lost (audit log)")
    ],
    round_key: Annotated[
        str | None,
        typer.Option("--round", help="the round whose open checks' links to send again"),
    ] = None,
    all_open: Annotated[
        bool,
        typer.Option(
            "--all-open",
            help="every drawn round with an open check, each in a transaction of its own "
            "(after SHUANGSUI_SECRET_KEY was rotated)",
        ),
    ] = False,
    inspector: Annotated[
        str | None,
        typer.Option("--inspector", help="only this inspector's open checks (with --round)"),
    ] = None,
    credit_code: Annotated[
        str | None,
        typer.Option("--credit-code", help="only the check of this enterprise (with --round)"),
    ] = None,
    end_old: Annotated[
        bool,
        typer.Option(
            "--end-old",
            help="end the link sent before (lost, or forwarded to someone who must not have it): "
            "it stops opening at once, and a new one is sent; only with --inspector and "
            "--credit-code (one member of one check), every other link untouched",
        ),
    ] = False,
) -> None:
    """Send the members of the round's open checks their links again, under the current
    SHUANGSUI_SECRET_KEY: after the key was rotated (the links sent before no longer open), or
    to one inspector who lost their notice. --all-open: every drawn round with an open check,
    one after another. --end-old: one member's link to one check lost or forwarded: it is
    ended (it stops opening at once) and a new one sent, every other link untouched. Run
    again before that new link is sent (for any reason): nothing more ended; after, it ends
    the new link too (lost again). A link no message has carried out yet (the first notice
    still waiting, untried) is not ended: nobody but the member can hold it."""
    from api.link_refusals import link_refusals
    from notifications.relink import relink
    from shuangsui import writes
    from shuangsui.clock import local_label
    from shuangsui.config import get_settings
    from shuangsui.errors import UserError

    if round_key is None and not all_open:
        raise UserError("--round or --all-open: give one of them (--round KEY: that round's "
                        "open checks; --all-open: every drawn round's)")  # fmt: skip
    if round_key is not None and all_open:
        raise UserError("--round and --all-open: give one of them, not both")
    if inspector is not None and all_open:
        raise UserError("--inspector: only with --round (one inspector's links in one round), "
                        "not with --all-open")  # fmt: skip
    if credit_code is not None and all_open:
        raise UserError("--credit-code: only with --round (one check's links), not with --all-open")
    if end_old and (inspector is None or credit_code is None or all_open):
        raise UserError("--end-old: only with --round, --inspector and --credit-code: it ends "
                        "the link of one member of one check")  # fmt: skip
    refusals = link_refusals(get_settings())
    if all_open:
        _relink_all_open(by=by, reason=reason, refusals=refusals)
        return
    assert round_key is not None
    done = writes.write(
        _engine(),
        lambda session: relink(session, round_key=round_key, inspector_id=inspector, by=by,
                               reason=reason, refusals=refusals, credit_code=credit_code,
                               end_old=end_old, rotate=True),
        what=f"the links of round {round_key}",
    )  # fmt: skip
    _say_key(done.key_replaced)
    _say_relinked(round_key, done)
    if end_old and done.ended:
        typer.echo(f"the earlier link of {inspector} to {credit_code} is ended: it no longer "
                   f"opens (generation {done.generation} now)")  # fmt: skip
    elif end_old and done.ended_before is not None:
        before = done.ended_before
        at = local_label(before.ended_at, get_settings().timezone)
        typer.echo(f"the earlier link of {inspector} to {credit_code} was already ended by "
                   f"{before.ended_by} at {at} ({before.reason}) and its new link (generation "
                   f"{done.generation}) has not been sent yet: nobody but the member can come "
                   "to hold it, nothing more ended")  # fmt: skip
    elif end_old and not done.left_out:  # generation 0, never sent: nothing to end
        typer.echo(f"the link of {inspector} to {credit_code} was not ended: no message has "
                   "carried it out yet (its notice waits in the outbox, never tried), so "
                   "nobody but the member can come to hold it; the message queued now holds "
                   "the same link")  # fmt: skip


def _say_key(replaced: str) -> None:
    """A rotation recorded by this relink, said once."""
    if replaced:
        from notifications.link_key import SHOWN, fingerprint
        from shuangsui.config import get_settings

        mine = fingerprint(get_settings().secret_key.get_secret_value())
        typer.echo(f"the secret key was rotated: fingerprint {mine[:SHOWN]} recorded as the "
                   f"current key, replacing {replaced[:SHOWN]}; a dispatcher or serve still "
                   "holding the old key now writes and sends no link and stops")  # fmt: skip


def _say_relinked(round_key: str, done: Relinked) -> None:
    """One round's relink in a line, then each member left out and who has no channel."""
    members = len({i for i, _ in done.queued})
    typer.echo(
        f"round {round_key}: queued {len(done.queued)} new link(s) to {members} inspector(s); "
        f"{len(done.already)} queued before for this reason and key; "
        f"{done.rewritten} waiting message(s) written again with the current link; "
        f"{len(done.left_out)} left out"
    )
    for member, code, why in done.left_out:
        typer.echo(f"not sent to {member} on {code}: {why}")
    for member, code in done.replaced:
        typer.echo(f"withdrawn: the 检查链接重新发送 an earlier run queued to {member} on {code}, "
                   "not yet sent; the one queued now takes its place (one message)")  # fmt: skip
    if done.unreachable:
        typer.echo(
            f"no usable email or webhook (dead on arrival; correct the registry, then "
            f"`notifications retry`): {', '.join(done.unreachable)}"
        )


def _relink_all_open(*, by: str, reason: str, refusals: Refusals) -> None:
    """Each drawn round's line as its turn ends, then the total; exit 1 naming the rounds
    that failed (the others are done, and running the command again is safe)."""
    from notifications.relink_all import relink_all_open

    done: list[Relinked] = []
    skipped: list[str] = []
    failed: list[str] = []
    for turn in relink_all_open(_engine(), by=by, reason=reason, refusals=refusals):
        if turn.key_replaced:
            _say_key(turn.key_replaced)
        elif turn.done is not None:
            done.append(turn.done)
            _say_relinked(turn.round_key, turn.done)
        elif turn.skipped:
            skipped.append(turn.round_key)
            typer.echo(f"round {turn.round_key}: skipped: {turn.skipped}")
        else:
            failed.append(turn.round_key)
            typer.echo(f"round {turn.round_key}: FAILED, nothing of it written: {turn.failed}")
    if not (done or skipped or failed):
        typer.echo("no round is drawn: no link is out to send again")
    typer.echo(
        f"all open rounds: {len(done)} given their links again (queued "
        f"{sum(len(d.queued) for d in done)} new link(s), "
        f"{sum(len(d.already) for d in done)} queued before, "
        f"{sum(d.rewritten for d in done)} written again, "
        f"{sum(len(d.left_out) for d in done)} left out), {len(skipped)} skipped, "
        + (f"{len(failed)} failed ({', '.join(failed)})" if failed else "none failed")
    )
    if failed:
        typer.echo(
            f"error: {len(failed)} failed ({', '.join(failed)}): running the same command "
            "again is safe: a round done queues nothing more for this reason and key, and "
            "the rounds that failed are tried again",
            err=True,
        )
        raise typer.Exit(1)
