"""What an auditor checks of the stored findings (``shuangsui findings verify``): each version's
content against its own ``content_hash`` and against the audit log, each signature against
the log.

A version's ``content_hash`` is the SHA-256 of its content as submitted
(:func:`findings.schemas.content_digest`), and ``FindingRecorded`` logged it, with the reason,
the submitter and who signed as it was submitted, in the transaction that stored the version;
each later signature is a ``FindingSigned`` event. Whoever holds the database can edit its
rows; the log's chain (checked first) links every later event to these, so it cannot be
rewritten unseen. A result rewritten in place, its hash computed again, a signature added or
taken away, a version added or deleted: each differs from the row's own hash or from the log,
and the first difference is named (round, credit code, version, what). The first of these
the public site's publish checks itself (:func:`check_contents`), before it writes anything.

A findings import (``findings.importer``) logs one ``FindingsImported`` event per file, listing
each version it added as ``FindingRecorded`` would (hash, reason, signers; the submitter is the
event's): such a version is checked as one the API recorded. An import before the event
listed its versions only counted them: each such version is checked against its own hash, the
log cannot say its reason, submitter or first signatures (:class:`Verified` counts them, for
the command to say so), and there may be no more versions no event names than those imports
counted, nor fewer, over the whole log (a version deleted).

Read as rows, in one pass: Core selects, the result, date and JSON columns as their stored
text, so a value edited into something no longer readable is a difference named, not a
traceback.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session

from findings.models import Finding, FindingSignoff, FindingVersion
from findings.schemas import canonical_value, digest_of
from rounds import audit
from rounds.models import AuditEvent, Round
from shuangsui.db import driver_rows, of_rounds
from shuangsui.errors import IntegrityError, NotFound

_FV = FindingVersion.__table__  # type: ignore[attr-defined]
_F = Finding.__table__  # type: ignore[attr-defined]
_S = FindingSignoff.__table__  # type: ignore[attr-defined]

Key = tuple[str, str, int]  # round key, credit code, version number


class Stored(NamedTuple):
    """A version's row as stored, its columns as text (the JSON lists too)."""

    content_hash: str
    reason: str
    submitted_by: str
    result: str
    check_date: str
    description: str
    certificates: str
    measures: str
    evidence: str
    internal_note: str


class Said(NamedTuple):
    """What the log says of a version as it was added: its ``FindingRecorded`` event, or the
    ``FindingsImported`` event of the file that imported it (``event``: which)."""

    event: str
    content_hash: str
    reason: str
    submitted_by: str
    signed_by: frozenset[str]


@dataclass
class Logged:
    """What the audit log says of the findings: each version as it was added, the signatures
    each ``FindingSigned`` added, and the versions imports counted without listing them."""

    recorded: dict[Key, Said]
    signed: dict[Key, set[str]]
    unlisted: int


@dataclass(frozen=True)
class Verified:
    events: int  # in the audit log, its chain checked
    head: str  # the log's last event, SEQ:HASH ("" when empty)
    versions: int
    signatures: int
    # of them, those of versions an import counted without listing them: each version
    # checked against its own hash only, each signature no FindingSigned names not at all
    unlisted: int = 0
    unlisted_signatures: int = 0


def verify_findings(engine: sa.Engine, round_key: str | None = None) -> Verified:
    """Check the findings of one round (every round when None); raise :class:`IntegrityError`
    naming the first difference, in (round, credit code, version) order."""
    with Session(engine) as session:
        if round_key is not None and session.get(Round, round_key) is None:
            raise NotFound(f"no round {round_key}")
        events = audit.load_chain(session)
    count = audit.verify_chain(events)
    logged = logged_findings(events, round_key)
    with engine.connect() as conn:
        stored = stored_versions(conn, round_key)
        signatures = stored_signatures(conn, round_key)
    unlogged = compare(stored, signatures, logged)
    check_unlisted(unlogged, logged.unlisted, whole_log=round_key is None)
    head = f"{events[-1].seq}:{events[-1].hash}" if events else ""
    total = sum(len(s) for s in signatures.values())
    unattested = sum(len(signatures.get(k, set()) - logged.signed.get(k, set())) for k in unlogged)
    return Verified(count, head, len(stored), total, len(unlogged), unattested)


def check_unlisted(unlogged: list[Key], counted: int, *, whole_log: bool) -> None:
    """The versions no event names (``unlogged``) against those the imports counted without
    listing them: more is a version added outside shuangsui; fewer, over the whole log (a
    round's check cannot tell: those events name no round), one of them deleted."""
    if len(unlogged) > counted:
        rk, code, number = unlogged[0]
        raise IntegrityError(
            f"findings: {len(unlogged)} version(s) no FindingRecorded or FindingsImported "
            f"event names, and the audit log's FindingsImported events counted {counted} "
            f"without listing them: a version was added outside shuangsui (the first not "
            f"named: round {rk}: finding {code} version {number})"
        )
    if whole_log and len(unlogged) < counted:
        raise IntegrityError(
            f"findings: the audit log's FindingsImported events counted {counted} version(s) "
            f"without listing them, and {len(unlogged)} version(s) no event names are stored: "
            f"{counted - len(unlogged)} imported version(s) were deleted (those imports did "
            "not list which)"
        )


def logged_findings(events: Sequence[AuditEvent], round_key: str | None = None) -> Logged:
    """The findings' events of the log (of one round's, when given: an import's event names
    no round, its versions do; the counts of imports that did not list them are of the whole
    log)."""
    logged = Logged({}, {}, 0)
    for e in events:
        if e.event == "FindingsImported":
            _imported(json.loads(e.payload), round_key, logged)
        if e.event not in ("FindingRecorded", "FindingSigned"):
            continue
        if round_key is not None and e.round_key != round_key:
            continue
        said = json.loads(e.payload)
        key = (e.round_key or "", said["credit_code"], said["version"])
        if e.event == "FindingRecorded":
            logged.recorded[key] = Said(
                e.event, said["content_hash"], said["reason"], said["submitted_by"],
                frozenset(said["signed_by"]),
            )  # fmt: skip
        else:
            logged.signed.setdefault(key, set()).add(said["inspector_id"])
    return logged


def _imported(said: dict[str, Any], round_key: str | None, logged: Logged) -> None:
    """A ``FindingsImported`` event's versions into ``logged``: each as listed, or counted."""
    if "recorded" not in said:  # an import before the event listed its versions
        logged.unlisted += said["versions"]
        return
    for v in said["recorded"]:
        if round_key is None or v["round_key"] == round_key:
            key = (v["round_key"], v["credit_code"], v["version"])
            logged.recorded[key] = Said(
                "FindingsImported", v["content_hash"], v["reason"], said["submitted_by"],
                frozenset(v["signed_by"]),
            )  # fmt: skip


def _in_round(round_key: str | None) -> list[sa.ColumnElement[bool]]:
    return [] if round_key is None else [_F.c.round_key == round_key]


def _stored_rows() -> sa.Select[Any]:
    """Each version's key (round, credit code, number) and its :class:`Stored` columns."""
    text = sa.Text
    fv = _FV.c
    return sa.select(
        _F.c.round_key, _F.c.credit_code, fv.version, fv.content_hash, fv.reason,
        fv.submitted_by, sa.type_coerce(fv.result, sa.String), sa.cast(fv.check_date, text),
        fv.description, sa.cast(fv.certificates, text), sa.cast(fv.measures, text),
        sa.cast(fv.evidence, text), fv.internal_note,
    ).join(_F, _F.c.id == fv.finding_id)  # fmt: skip


def stored_versions(conn: sa.Connection, round_key: str | None) -> dict[Key, Stored]:
    return {(rk, code, n): Stored(*rest) for rk, code, n, *rest in conn.execute(
        _stored_rows().where(*_in_round(round_key)))}  # fmt: skip


def check_contents(
    conn: sa.Connection,
    round_keys: Sequence[str],
    only: Mapping[str, Collection[str]] | None = None,
) -> None:
    """Each version of the rounds ``round_keys`` (of a round in ``only``, of the findings of
    those credit codes) against its own ``content_hash`` (the first
    check of :func:`verify_findings`, without the log). The public site's publish runs it on
    the rounds it reads again, before it writes anything: a result rewritten in the database
    (``mark_misused`` made ``no_problem`` by an UPDATE) is refused, not shown until someone
    runs ``findings verify``. Raise :class:`IntegrityError` naming the first that differs."""
    query = _stored_rows().where(of_rounds(_F.c.round_key, _F.c.credit_code, round_keys, only))
    changed = [  # the rows as the driver gives them: text (and the numbers), as hashed
        (rk, code, n)
        for rk, code, n, stored_hash, _reason, _by, *content in driver_rows(conn, query)
        if content_hash_of(*content) != stored_hash
    ]
    if changed:
        rk, code, number = min(changed)
        others = f" (and {len(changed) - 1} other version(s))" if len(changed) > 1 else ""
        raise IntegrityError(
            f"round {rk}: finding {code} version {number}: stored content does not match its "
            f"content_hash{others}; nothing was published (shuangsui findings verify)"
        )


def stored_signatures(conn: sa.Connection, round_key: str | None) -> dict[Key, set[str]]:
    q = (
        sa.select(_F.c.round_key, _F.c.credit_code, _FV.c.version, _S.c.inspector_id)
        .join(_FV, _FV.c.id == _S.c.version_id)
        .join(_F, _F.c.id == _FV.c.finding_id)
        .where(*_in_round(round_key))
    )
    signed: dict[Key, set[str]] = {}
    for rk, code, number, inspector in conn.execute(q):
        signed.setdefault((rk, code, number), set()).add(inspector)
    return signed


def compare(
    stored: dict[Key, Stored], signatures: dict[Key, set[str]], logged: Logged
) -> list[Key]:
    """Raise naming the first difference between the rows and the log; the versions stored
    that no event names (imported by an import that did not list them, or added outside
    shuangsui), in order."""
    unlogged = []
    for key in sorted(stored.keys() | logged.recorded.keys() | logged.signed.keys()):
        problem = next(_differences(key, stored, signatures, logged), None)
        if problem is not None:
            rk, code, number = key
            raise IntegrityError(f"round {rk}: finding {code} version {number}: {problem}")
        if key in stored and key not in logged.recorded:
            unlogged.append(key)
    return unlogged


def _differences(
    key: Key, stored: dict[Key, Stored], signatures: dict[Key, set[str]], logged: Logged
) -> Iterator[str]:
    """What differs of one version, the first first."""
    row, said = stored.get(key), logged.recorded.get(key)
    if row is None:
        event = said.event if said is not None else "FindingSigned"
        yield f"in the audit log ({event}) but not in the database (the version was deleted)"
        return
    if recomputed_hash(row) != row.content_hash:
        yield (
            "stored content does not match its content_hash: its result, check date, "
            "description, certificates, measures, evidence or internal note was changed"
        )
    if said is not None:
        for name in ("content_hash", "reason", "submitted_by"):
            if getattr(said, name) != getattr(row, name):
                yield (
                    f"stored {name} {getattr(row, name)!r} != {getattr(said, name)!r} in the "
                    f"audit log's {said.event} event"
                )
    signed = signatures.get(key, set())
    attested = set(logged.signed.get(key, ()))
    if said is not None:  # an unlisted import's first signatures are in no event
        attested |= said.signed_by
        for inspector in sorted(signed - attested):
            yield f"signature of {inspector} is in no audit event (it was added outside shuangsui)"
    for inspector in sorted(attested - signed):
        yield f"signature of {inspector} is in the audit log but not in the database (deleted)"


def recomputed_hash(row: Stored) -> str:
    """The content hash of a stored row, as :meth:`FindingIn.content_hash` made it when the
    version was submitted (:func:`content_hash_of` its content's columns)."""
    return content_hash_of(row.result, row.check_date, row.description, row.certificates,
                           row.measures, row.evidence, row.internal_note)  # fmt: skip


def content_hash_of(
    result: str, check_date: str, description: str, certificates: str, measures: str,
    evidence: str, internal_note: str,
) -> str:  # fmt: skip
    """The content hash of a version's content columns as stored (in :class:`Stored`'s order;
    a publish checks each version it reads with them as the row holds them, no ``Stored`` a
    version); a JSON column that no longer parses hashes as its text (and so differs). The
    content ``{"result", "check_date", "description", "certificates", "measures", "evidence",
    "internal_note"}`` is written with its keys in sorted order, each value by
    ``content_digest``'s encoder, without a dict a version (a publish checks every version it
    reads: 20,000 dicts and their walks were half of the check's time); an empty list is "[]"
    as stored."""
    return digest_of(
        f'{{"certificates":{_list(certificates)},"check_date":{canonical_value(check_date)},'
        f'"description":{canonical_value(description)},"evidence":{_list(evidence)},'
        f'"internal_note":{canonical_value(internal_note)},"measures":{_list(measures)},'
        f'"result":{canonical_value(result)}}}'
    )


def _list(text: str) -> str:
    """A JSON list column's text as ``content_digest`` writes its value."""
    return "[]" if text == "[]" else canonical_value(_parsed(text))


def _parsed(text: str) -> Any:
    if text == "[]":  # most lists (no certificates, measures or evidence): nothing to parse
        return []
    try:
        return json.loads(text)
    except ValueError:
        return text
