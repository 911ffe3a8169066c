"""``shuangsui partners ...``: keys, directory, sync, status, combined view, assistance."""

from __future__ import annotations

import datetime as dt
import getpass
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from sqlmodel import Session, select

from exchange import assistance, kinds, publish, recognition
from exchange.answers import shown
from exchange.apply import said
from exchange.directory import get_partner, load_directory, read_directory
from exchange.keys import load_or_create
from exchange.models import AssistanceCase, PartnerConflict, PartnerState
from exchange.settings import exchange_settings
from exchange.standing import standing
from exchange.unopened import unopened
from findings import dates
from registry import uscc
from registry.models import CheckItem
from shuangsui.clock import local_label, typed_day
from shuangsui.config import get_settings
from shuangsui.db import get_engine, migrate
from shuangsui.errors import UserError

app = typer.Typer(help="The partner-bureau exchange (信息互换、执法互助、监管互认).",
                  no_args_is_help=True)  # fmt: skip
assist_app = typer.Typer(help="Assistance requests (执法互助).", no_args_is_help=True)
app.add_typer(assist_app, name="assist")
# more lines for `partners status`, registered by other rooms (joint rounds: withheld reveals)
status_hooks: list[Callable[[Any], list[str]]] = []


def _engine():  # type: ignore[no-untyped-def]
    settings = get_settings()
    migrate(settings.resolved_database_url)
    return get_engine(settings)


def _json(obj: object) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


@app.command("keygen")
def keygen() -> None:
    """Make this bureau's Ed25519 key pair (once) and print the public key for partners."""
    key = load_or_create()
    typer.echo(key.public.text)


@app.command("list")
def list_partners() -> None:
    """The partner directory."""
    path = exchange_settings().partners_path
    read = read_directory(path)
    partners = read.partners
    typer.echo(f"{len(partners)} partner(s) in {path}")
    for d in read.disabled:
        typer.echo(f"  {d}")
    for p in partners.values():
        typer.echo(f"  {p.code}  {p.name}  division {p.division}  {p.base_url}  "
                   f"keys {', '.join(k.key_id for k in p.keys)}")  # fmt: skip


@app.command("sync")
def sync(code: str = typer.Argument(None, help="one partner; default all")) -> None:
    """Pull partners' logs: verify, apply, move the cursor; exit 1 if any was rejected."""
    from exchange.sync import sync_partner

    engine = _engine()
    partners = [get_partner(code)] if code else list(load_directory().values())
    if not partners:
        typer.echo(_NO_PARTNERS)
        return
    failed = 0
    for p in partners:
        out = sync_partner(engine, p, timeout=exchange_settings().exchange_timeout,
                           on_wait=_tell_waiting(p.code, p.name))  # fmt: skip
        failed += out.status not in ("ok", "quorum")  # below quorum: waiting, not broken
        if out.status == "error":  # a fault not the partner's: the next partner is synced still
            typer.echo(f"{p.code} ERROR: {out.error}")
            continue
        mark = "ok" if out.status == "ok" else out.status.upper()
        typer.echo(f"{p.code} {mark}: {out.before} -> {out.after} ({out.applied} new)"
                   + (f": {out.error}" if out.error else ""))  # fmt: skip
        if out.about:
            typer.echo(f"    {out.about}")
        if out.unread:
            typer.echo(f"    {said(out.unread)}")
        if out.reread:
            typer.echo(f"    {out.reread} entries kept unread before are read and applied now")
    raise typer.Exit(1 if failed else 0)


def _tell_waiting(code: str, name: str) -> Callable[[], None]:
    """What a sync that waits its turn says on stderr, once: the command is not hung."""
    return lambda: typer.echo(
        f"partner {code} ({name}): another sync of it is under way; waiting for it to end",
        err=True,
    )


def _when(moment: dt.datetime | None) -> str:
    return local_label(moment, get_settings().timezone) if moment else "never"


_NO_PARTNERS = (
    "no partners configured: list them in the partner directory "
    "(SHUANGSUI_PARTNERS_FILE, default $SHUANGSUI_HOME/partners.toml; docs/exchange-protocol.md)"
)


@app.command("status")
def status() -> None:
    """Each partner's cursor, last sync and why it failed; rewritten histories, loudly."""
    engine = _engine()
    with Session(engine) as session:
        states = {s.partner_code: s for s in session.exec(select(PartnerState)).all()}
        conflicts = session.exec(select(PartnerConflict)).all()
        no_case = unopened(session, get_settings().bureau_code)  # requests no answer can name
    read = read_directory()
    directory = read.partners
    if not directory and not read.disabled:
        typer.echo(_NO_PARTNERS)
    for d in read.disabled:
        typer.echo(f"{d.code or '?'} DISABLED (partner[{d.entry}] of the directory): "
                   f"{d.field}: {d.reason}")  # fmt: skip
    me, now = load_or_create(), dt.datetime.now(dt.UTC)
    stand = standing(_engine(), me.origin)
    if read.witness_quorum:
        typer.echo(f"witness quorum: {read.witness_quorum} cosignature(s) from witnesses other "
                   "than a checkpoint's origin")  # fmt: skip
    if stand.our_size is not None:
        typer.echo(f"our checkpoint (size {stand.our_size}) cosigned by: "
                   f"{', '.join(stand.our_cosigners) or 'nobody yet'}")  # fmt: skip
    for code, p in sorted(directory.items()):
        s = states.get(code)
        for e in stand.equivocations_of(p.origin):
            came = f", received from {e.received_from}" if e.received_from else ""
            typer.echo(f"    !!! {code} EQUIVOCATED: {e.summary}{came} "
                       f"(`shuangsui partners equivocations {code}`)")  # fmt: skip
        if s is None:
            typer.echo(f"{code} {p.name}: never synced")
            continue
        ok, tried = _when(s.last_success_at), _when(s.last_attempt_at)
        seen = stand.witnessed.get(p.origin, 0)
        typer.echo(f"{code} {p.name}: {s.status}, cursor {s.size}, witnessed {seen}, "
                   f"last ok {ok}, last try {tried}")  # fmt: skip
        if s.last_error and s.status != "ok":
            typer.echo(f"    why: {s.last_error}")
        if code in stand.unread:
            typer.echo(f"    {said(stand.unread[code])}")
        typer.echo(f"    entry kinds: {kinds.described(s.about, now=now)}")
        for u in (u for u in no_case if u.partner == code):
            typer.echo(f"    {u.said()}")
        if s.flagged and any(c.partner_code == code for c in conflicts):
            n = sum(c.partner_code == code for c in conflicts)
            typer.echo(f"    !!! {code} REWROTE ITS HISTORY: {n} piece(s) of evidence "
                       f"(`shuangsui partners conflicts {code}`)")  # fmt: skip
    for hook in status_hooks:
        for line in hook(engine):
            typer.echo(line)


@app.command("conflicts")
def conflicts(code: str = typer.Argument(None)) -> None:
    """The evidence of rewritten histories: both signed checkpoints and the failed proof."""
    with Session(_engine()) as session:
        q = select(PartnerConflict)
        if code:
            q = q.where(PartnerConflict.partner_code == code)
        held = [c.model_dump() for c in session.exec(q).all()]
    if code and not held:  # a typo printed [], as if that partner had never rewritten a thing
        _in_directory(code, "and no evidence of a rewritten history of it is held")
    _json(held)


@app.command("equivocations")
def equivocations(
    code: str = typer.Argument(None, help="one partner; default all"),
    out: Path = typer.Option(None, help="write each proof to DIR/<origin>-<size>-<n>.json"),
) -> None:
    """Equivocation proofs (canonical JSON): check one offline with
    `python3 -I -S exchange/verify_exchange.py equivocation PROOF.json`."""
    from exchange import equivocation
    from exchange.settings import origin_of

    origin = origin_of(code) if code else None
    if code:  # a typo: no proofs, as if that partner had never equivocated
        _known_or_proven(code, origin_of(code))
    if out is None:
        with Session(_engine()) as session:
            proofs = equivocation.stored(session, origin)
        _json(proofs)
    else:
        proofs = equivocation.write_proofs(_engine(), out, origin)
        for path in proofs:
            typer.echo(str(path))
    if not proofs:  # said apart from the listing: a script reading it reads "[]" or nothing
        said = f"partner {code} has not" if code else "no partner has"
        typer.echo(f"no equivocation proofs: {said} shown two histories", err=True)


def _known_or_proven(code: str, origin: str) -> None:
    """``code`` is a partner of the directory (a disabled entry included), or one of whose log
    a proof is held (a partner since removed); else a UserError naming it."""
    from exchange import equivocation

    with Session(_engine()) as session:
        if equivocation.stored(session, origin):
            return
    _in_directory(code, f"and no equivocation proof of {shown(origin, 50)} is held")


def _in_directory(code: str, and_: str) -> None:
    """``code`` is a partner of the directory (a disabled entry included); else a UserError
    naming it, the partners known and ``and_`` (what is not held of it either)."""
    directory = read_directory()
    if code in directory.partners or any(d.code == code for d in directory.disabled):
        return
    known = ", ".join(sorted(directory.partners)) or "none"
    raise UserError(f"partner {shown(code, 40)} is not in the partner directory (known: {known}), "
                    f"{and_}")  # fmt: skip


@app.command("view")
def view(credit_code: str) -> None:
    """Our rounds and results for an enterprise, and the partners'."""
    credit_code = credit_code.strip().upper()
    if why := uscc.problem(credit_code, uscc.load_whitelist()):  # a typo: an empty view, as if fine
        raise UserError(f"CREDIT_CODE: {why}")
    engine, now = _engine(), dt.datetime.now(dt.UTC)
    with Session(engine) as session:
        states = sorted(session.exec(select(PartnerState)).all(), key=lambda s: s.partner_code)
    # what each partner said of the entry kinds it reads: the kinds ``kept_unread`` may hold
    told = {s.partner_code: kinds.summary(s.about, now) for s in states}
    # how current its results here are: a sync that failed applied nothing of it
    synced = {s.partner_code: {"status": s.status, "last_ok": _when(s.last_success_at),
                               "last_try": _when(s.last_attempt_at),
                               "why": s.last_error if s.status != "ok" else None}
              for s in states}  # fmt: skip
    _json(recognition.combined_view(engine, credit_code) | {"synced": synced, "entry_kinds": told})


@app.command("publish-result")
def publish_result(
    credit_code: str, check_item: str, inspected_on: str, outcome: str,
    round_key: str = typer.Option("", help="our round"),
    summary: str = typer.Option(""),
    assist_requester: str = typer.Option("", help="done for a partner's assistance request"),
    assist_request_id: str = typer.Option(""),
) -> None:  # fmt: skip
    """Share a published inspection result in our log."""
    assist = ({"requester": assist_requester, "request_id": assist_request_id}
              if assist_requester else None)  # fmt: skip
    credit_code = credit_code.strip().upper()
    if why := uscc.problem(credit_code):
        raise UserError(f"credit_code: {why}")
    day = typed_day("inspected_on", inspected_on)
    if day > (today := dates.today()):  # partners keep the entry for good: no day to come
        zone = get_settings().timezone
        raise UserError(f"inspected_on: {day} is in the future (today is {today}, {zone}); "
                        "give the day the inspection took place")  # fmt: skip
    outcome = publish.shared_text("outcome", outcome, required=True)
    summary = publish.shared_text("--summary", summary)
    with Session(_engine()) as session:
        if session.get(CheckItem, check_item) is None:
            raise UserError(f"check_item: {check_item!r} is not a check item of our registry "
                            "(`shuangsui registry export check-items`)")  # fmt: skip
        row = publish.publish_result(
            session, credit_code=credit_code, check_item=check_item, inspected_on=day,
            outcome=outcome, round_key=round_key, summary=summary, assistance=assist,
        )  # fmt: skip
        session.commit()
        typer.echo(f"entry {row.seq}: {row.entry_id}")


@app.command("retract")
def retract(entry_id: str, reason: str = typer.Option(..., help="why (shared)")) -> None:
    """Withdraw a shared entry (a new entry names it; nothing is deleted)."""
    with Session(_engine()) as session:
        row = publish.retract(session, supersedes=entry_id, reason=reason)
        session.commit()
        typer.echo(f"entry {row.seq}: {row.entry_id} retracts {entry_id}")


@assist_app.command("request")
def assist_request(
    to: str = typer.Option(...), credit_code: str = typer.Option(...),
    division: str = typer.Option(...), check_item: str = typer.Option(...),
    cert_kind: list[str] = typer.Option(..., help="repeat"), reason: str = typer.Option(...),
    start: str = typer.Option(...), end: str = typer.Option(...),
) -> None:  # fmt: skip
    """Ask a partner to inspect an enterprise in its division."""
    first, last = typed_day("--start", start), typed_day("--end", end)
    if last < first:
        raise UserError(f"--end: {last} is before --start {first}")
    if to not in load_directory():
        raise UserError(f"--to: {shown(to, 40)} is not a partner of the directory "
                        "(`shuangsui partners list`); nobody would read the request")  # fmt: skip
    case = assistance.request_assistance(
        _engine(), to=to, credit_code=credit_code, division=division, check_item=check_item,
        cert_kinds=cert_kind, reason=reason, window_start=first, window_end=last,
    )  # fmt: skip
    typer.echo(f"request {case.request_id} to {to}: {case.status}")


@assist_app.command("list")
def assist_list() -> None:
    """Every assistance request, ours and the partners', with its state (JSON)."""
    with Session(_engine()) as session:
        cases = [c.model_dump() for c in session.exec(select(AssistanceCase)).all()]
    _json(cases)
    if not cases:  # said apart from the listing: a script reading it reads "[]"
        typer.echo("no assistance requests, ours or the partners'", err=True)


ANSWERED_BY = "who answers (audited; default: this login's user name)"


@assist_app.command("accept")
def assist_accept(
    requester: str, request_id: str, reason: str = typer.Option(""),
    by: str = typer.Option(None, "--by", help=ANSWERED_BY),
) -> None:  # fmt: skip
    """Accept; the team is drawn from our inspectors by the draw's rules (in the answer)."""
    case = assistance.decide(_engine(), requester=requester, request_id=request_id,
                             accept=True, reason=reason, by=by or getpass.getuser())  # fmt: skip
    typer.echo(
        f"{request_id}: {case.status}, team {', '.join((case.answer or {}).get('team', []))}"
    )


@assist_app.command("decline")
def assist_decline(
    requester: str, request_id: str, reason: str = typer.Option(...),
    by: str = typer.Option(None, "--by", help=ANSWERED_BY),
) -> None:  # fmt: skip
    """Decline, with the reason every partner reads (shared in our log for good)."""
    case = assistance.decide(_engine(), requester=requester, request_id=request_id,
                             accept=False, reason=reason, by=by or getpass.getuser())  # fmt: skip
    typer.echo(f"{request_id}: {case.status}")
