"""Two coordinator tokens created under one name at once: one is issued, the other is refused
with the message a name already taken gets, never a database error.

The interleaving is forced: the first creation is held after it found the name free and
before it commits, and the second runs to its end meanwhile."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import Session, select

from api import tokens
from findings.models import CoordinatorToken
from shuangsui.errors import UserError


def test_a_name_taken_by_a_concurrent_creation_is_refused_as_taken(engine: sa.Engine) -> None:
    first = threading.current_thread()
    second: list[str | BaseException] = []

    def create_second() -> None:
        try:
            second.append(tokens.create_coordinator(engine, "林科长", "350000"))
        except BaseException as exc:  # the test reports it
            second.append(exc)

    def hold_the_first(session: Session) -> None:
        if threading.current_thread() is first and not second:
            other = threading.Thread(target=create_second)
            other.start()
            other.join(60)

    event.listen(Session, "before_commit", hold_the_first)
    try:
        with pytest.raises(UserError, match="a token named '林科长' exists"):
            tokens.create_coordinator(engine, "林科长", "350000")
    finally:
        event.remove(Session, "before_commit", hold_the_first)

    (issued,) = second
    assert isinstance(issued, str) and issued.startswith(tokens.PREFIX)
    with Session(engine) as session:
        rows = session.exec(select(CoordinatorToken)).all()
    assert [(r.name, r.token_hash) for r in rows] == [("林科长", tokens.token_hash(issued))]
