"""Finding leads by what a coordinator remembers of one: its number, part of the enterprise's
name or credit code, or its category. One rule for the workspace's list (``?q=``) and for
``shuangsui leads list --search``, with the enterprises' names read from the registry."""

from __future__ import annotations

import re
from collections.abc import Iterable

import sqlalchemy as sa

from registry.models import Enterprise
from shuangsui import db
from shuangsui.text import half_width

# a lead's number as a search gives it: 线索 12 or #12 (up to nine digits, as a lead's address),
# or six digits or fewer alone; longer digits alone are part of a credit code
LEAD_NUMBER = re.compile(r"(?:线索\s*|#\s*)([0-9]{1,9})|([0-9]{1,6})")


LOOKUP = 10_000  # credit codes looked up a statement


def names(engine: sa.Engine, codes: Iterable[str]) -> dict[str, str]:
    """The registry's name of each enterprise of ``codes`` it holds (by credit code), read
    :data:`LOOKUP` codes at a time: ``leads list`` names every lead's enterprise, and one IN of
    them all took a parameter a code, past PostgreSQL's 65,535 once the leads named more
    enterprises (psycopg's OperationalError, a traceback)."""
    wanted = sorted(set(codes))
    table = Enterprise.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        found = db.rows_of(conn, table, ["credit_code", "name"], "credit_code", wanted, LOOKUP)
    return {code: name for code, name in found}


def lead_number(text: str) -> int | None:
    """The lead ``text`` names by number (``LEAD_NUMBER``), or None."""
    number = LEAD_NUMBER.fullmatch(half_width(text))
    return int(number[1] or number[2]) if number else None


def matches(text: str, *, lead_id: int, credit_code: str, name: str, category: str) -> bool:
    """Whether a search for ``text`` (not empty) finds the lead: a lead's number finds that
    lead; any other text, a part of the credit code, the enterprise's name or the category
    (letters in either case; full-width as half-width, ``shuangsui.text.half_width``)."""
    if (number := lead_number(text)) is not None:
        return lead_id == number
    want = half_width(text).casefold()
    return want in credit_code.casefold() or want in name.casefold() or want in category.casefold()
