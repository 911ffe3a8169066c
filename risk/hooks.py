"""Register the classification as the source of the class a round's frame commits, and record
in the round's commit what that frame read (``RiskClassesCommitted``: the run and the
overrides), for the round's classification bundle (``risk.bundle``) to name the same."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from sqlalchemy.engine import Connection
from sqlmodel import Session

from risk.classify import Read, read_in_force
from risk.events import RiskClassesCommitted
from rounds import audit

# what the last frame built in this context read (a commit builds its frames, then records them
# in the same call: ``rounds.service.commit_round``)
_read: ContextVar[Read | None] = ContextVar("risk_classes_read", default=None)


def in_force_now(conn: Connection) -> Mapping[str, str]:
    read = read_in_force(conn)
    _read.set(read)
    return read.classes


def record_read(session: Session, rnd: Any, _frame: Sequence[Any]) -> None:
    """In the commit's transaction: the run and the overrides the round's frame read. The
    commit reads the registry, then takes its time; a run stored or an override approved in
    between (seconds, for a province's registry) is in force at the commit time and not in the
    frame, so the bundle reads these, not what was in force at that time."""
    read = _read.get()
    if read is None or (read.run_id is None and not read.overrides):
        return  # the registry's classes (a bundle refuses such a round: nothing to check)
    event = RiskClassesCommitted(read.run_id, list(read.overrides))
    audit.add_to(session, rnd.round_key, event)


def install() -> None:
    """Idempotent."""
    from rounds import frames, service

    if in_force_now not in frames.risk_class_sources:
        frames.risk_class_sources.append(in_force_now)
    if record_read not in service.after_commit_hooks:
        service.after_commit_hooks.append(record_read)
