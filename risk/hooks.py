"""Register the classification as the source of the class a round's frame commits."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.engine import Connection

from risk.classify import classes_in_force


def in_force_now(conn: Connection) -> Mapping[str, str]:
    return classes_in_force(conn)


def install() -> None:
    """Idempotent."""
    from rounds import frames

    if in_force_now not in frames.risk_class_sources:
        frames.risk_class_sources.append(in_force_now)
