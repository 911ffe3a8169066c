"""Coordinator tokens: random, shown once, stored only as their SHA-256."""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from findings.models import CoordinatorToken
from shuangsui.errors import UserError

logger = logging.getLogger(__name__)

PREFIX = "ssc_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_coordinator(engine: Engine, name: str, bureau_code: str) -> str:
    """Issue a token for ``name``; the token itself is returned once and never stored."""
    if not name.strip():
        raise UserError("a coordinator token needs a name (who holds it)")
    token = PREFIX + secrets.token_urlsafe(32)
    with Session(engine) as session:
        if session.get(CoordinatorToken, name) is not None:
            raise UserError(f"a token named {name!r} exists; revoke it or choose another name")
        session.add(
            CoordinatorToken(
                name=name,
                token_hash=token_hash(token),
                bureau_code=bureau_code,
                created_at=datetime.now(UTC),
            )
        )
        session.commit()
    logger.info("coordinator token issued to %s for bureau %s", name, bureau_code)
    return token


def revoke(engine: Engine, name: str) -> None:
    with Session(engine) as session:
        row = session.get(CoordinatorToken, name)
        if row is None:
            raise UserError(f"no coordinator token named {name!r}")
        row.revoked_at = datetime.now(UTC)
        session.add(row)
        session.commit()


def lookup(engine: Engine, token: str) -> CoordinatorToken | None:
    """The live token row for ``token``; the lookup is by hash, so timing reveals nothing."""
    with Session(engine, expire_on_commit=False) as session:
        row = session.execute(
            select(CoordinatorToken).where(col(CoordinatorToken.token_hash) == token_hash(token))
        ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return row
