"""Register the classification as the source of the class a round's frame commits. What the
frame read comes with its classes (``RiskClassesCommitted``: the run and the overrides), and
the round's commit records it, for the round's classification bundle (``risk.bundle``) to name
the same: the commit reads the registry, then takes its time, and a run stored or an override
approved in between (seconds, for a province's registry) is in force at the commit time but
not in the frame."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from risk.classify import read_in_force
from risk.events import RiskClassesCommitted
from rounds.frames import ClassesRead


def in_force_now(conn: Connection) -> ClassesRead:
    read = read_in_force(conn)
    if read.run_id is None and not read.overrides:
        return ClassesRead(read.classes)  # the registry's (a bundle refuses: nothing to check)
    return ClassesRead(read.classes, (RiskClassesCommitted(read.run_id, list(read.overrides)),))


def install() -> None:
    """Idempotent."""
    from rounds import frames

    if in_force_now not in frames.risk_class_sources:
        frames.risk_class_sources.append(in_force_now)
