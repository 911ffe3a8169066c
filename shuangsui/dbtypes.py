"""Column types shared by every table."""

from __future__ import annotations

import enum

import sqlalchemy as sa


def enum_type(enum_class: type[enum.Enum]) -> sa.Enum:
    """Enumerations stored as plain strings (no native PostgreSQL type): adding a value later
    needs no ``ALTER TYPE``, and both databases hold the same text."""
    return sa.Enum(
        enum_class,
        native_enum=False,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )
