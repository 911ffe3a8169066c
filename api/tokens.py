"""Coordinator tokens: random, shown once, stored only as their SHA-256; revoked by name.

A token is checked on every request (``api.auth``, ``workspace.guards``), and a write made with
it once more inside the write's own transaction (:func:`still_current`), so a revocation
committed between the request's check and the write's commit refuses the write.

A name keeps one row: a person whose token was revoked is issued a new one under the same
name, so the audit log names them throughout. The row then holds the new token's hash, which
neither the old token nor a session opened with it (bound to a prefix of the old hash) matches.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from findings.models import CoordinatorToken
from rounds import audit
from shuangsui.errors import UserError
from shuangsui.text import no_control

logger = logging.getLogger(__name__)

PREFIX = "ssc_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CoordinatorTokenIssued:
    """Audit event: a coordinator token issued to ``name``; ``reissued``: the name's earlier
    token was revoked, and stays refused."""

    name: str
    bureau_code: str
    reissued: bool


NAME_MAX = 64


def checked_name(name: str) -> str:
    """A coordinator's name as a token is issued to it: shown on every page they open and in
    every audit entry they make, and compared when a second coordinator must approve, so
    nothing in it that does not show (an invisible or control character, a blank at either
    end: ``林科长`` and ``林科长\u200b`` would be two coordinators who read as one)."""
    if not name.strip():
        raise UserError("NAME: a coordinator token needs a name (who holds it)")
    if name != name.strip():
        raise UserError(f"NAME: {name!r} begins or ends with a blank; type the name alone")
    if len(name) > NAME_MAX:
        raise UserError(f"NAME: {len(name)} characters, at most {NAME_MAX}")
    try:
        return no_control(name)
    except ValueError as exc:
        raise UserError(f"NAME: {name!r} {exc}") from None


def create_coordinator(engine: Engine, name: str, bureau_code: str) -> str:
    """Issue a token for ``name``, a new name or one whose token was revoked; the token itself
    is returned once and never stored. The issue is recorded in the audit log (in a
    transaction of its own, after the token's: a creation meeting a concurrent one of the same
    name must meet it at its commit, not wait for it)."""
    checked_name(name)
    token = PREFIX + secrets.token_urlsafe(32)
    digest, now = token_hash(token), datetime.now(UTC)
    active = UserError(
        f"a token named {name!r} exists and is active; revoke it first "
        f"(shuangsui tokens revoke-coordinator {shlex.quote(name)})"
    )
    with Session(engine) as session:
        row = session.get(CoordinatorToken, name)
        if row is not None and row.revoked_at is None:
            raise active
        if row is None:
            session.add(
                CoordinatorToken(
                    name=name, token_hash=digest, bureau_code=bureau_code, created_at=now
                )
            )
        else:  # revoked: the row takes the new token, unless a concurrent reissue did first
            again = session.execute(
                update(CoordinatorToken)
                .where(
                    col(CoordinatorToken.name) == name,
                    col(CoordinatorToken.revoked_at).is_not(None),
                )
                .values(token_hash=digest, bureau_code=bureau_code, created_at=now, revoked_at=None)
            )
            if again.rowcount != 1:  # type: ignore[attr-defined]
                raise active
        try:
            session.commit()
        except IntegrityError:  # the name is the key: a concurrent create took it first
            session.rollback()
            raise active from None
    reissued = row is not None
    audit.append(engine, None, CoordinatorTokenIssued(name, bureau_code, reissued))
    again_said = " (again: the earlier token stays revoked)" if reissued else ""
    logger.info("coordinator token issued to %s for bureau %s%s", name, bureau_code, again_said)
    return token


@dataclass(frozen=True)
class CoordinatorTokenRevoked:
    """Audit event: a coordinator's token refused from now on."""

    name: str
    bureau_code: str


def revoke(engine: Engine, name: str) -> None:
    """Revoke ``name``'s token, with an audit entry in the same transaction. The token's row is
    locked first: a write made with the token that has checked it (:func:`still_current`)
    commits before the revocation does."""
    for _attempt in range(20):  # a concurrent audit append takes the chain's head: retry
        with Session(engine) as session:
            row = session.get(CoordinatorToken, name, with_for_update=True)
            if row is None:
                raise UserError(f"no coordinator token named {name!r}")
            if row.revoked_at is not None:
                raise UserError(f"the token of {name!r} is already revoked")
            row.revoked_at = datetime.now(UTC)
            session.add(row)
            try:
                audit.add_to(session, None, CoordinatorTokenRevoked(name, row.bureau_code))
                session.commit()
            except IntegrityError:
                session.rollback()
                continue
            break
    else:
        raise RuntimeError("could not record the revocation: the audit log is too busy")
    logger.info("coordinator token of %s revoked", name)


class CoordinatorRefused(Exception):
    """A write made with a coordinator's token that no longer opens anything (revoked, or not
    this bureau's), found inside the write's transaction (:func:`still_current`); the API and
    the workspace answer it as they answer the same token at the start of a request."""

    def __init__(self, name: str):
        super().__init__(f"the coordinator token of {name!r} no longer opens anything")
        self.name = name


def still_current(name: str, bureau_code: str, binding: str) -> Callable[[Session], None]:
    """The check of a write made with ``name``'s token, for the write's own transaction
    (``shuangsui.writes.write``): the token is still ``name``'s live token of ``bureau_code``
    (its hash starts with ``binding``), else :class:`CoordinatorRefused`.

    It reads the token's row under a share lock, which :func:`revoke` takes exclusively. A
    revocation that committed before is read (PostgreSQL's READ COMMITTED reads what is
    committed when each statement starts); one still under way is waited for, then read; one
    that starts later waits until the write has committed. On SQLite the write holds the
    database's write lock already, and revocations queue behind it."""

    def check(session: Session) -> None:
        row = session.execute(
            select(
                col(CoordinatorToken.token_hash),
                col(CoordinatorToken.bureau_code),
                col(CoordinatorToken.revoked_at),
            )
            .where(col(CoordinatorToken.name) == name)
            .with_for_update(read=True)
        ).one_or_none()
        if (
            row is None
            or row.revoked_at is not None
            or row.bureau_code != bureau_code
            or not (binding and row.token_hash.startswith(binding))
        ):
            raise CoordinatorRefused(name)

    return check


def revoked_coordinators(engine: Engine) -> list[CoordinatorToken]:
    with Session(engine, expire_on_commit=False) as session:
        stmt = (
            select(CoordinatorToken)
            .where(col(CoordinatorToken.revoked_at).is_not(None))
            .order_by(col(CoordinatorToken.revoked_at))
        )
        return list(session.execute(stmt).scalars())


def lookup(engine: Engine, token: str) -> CoordinatorToken | None:
    """The live token row for ``token``; the lookup is by hash, so timing reveals nothing."""
    with Session(engine, expire_on_commit=False) as session:
        row = session.execute(
            select(CoordinatorToken).where(col(CoordinatorToken.token_hash) == token_hash(token))
        ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return row
