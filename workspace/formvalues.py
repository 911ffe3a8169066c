"""A workspace form's fields as the pages' own forms send them: each once, as text.

Starlette's ``FormData.get`` takes the last of a field sent twice, and hands a file sent in a
field's place as an ``UploadFile``; the pages refuse both, each in its own words, and read
every field through these two."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any


def text(form: Any, name: str) -> str:
    """The form's ``name`` as text ("" when not sent, or sent as a file)."""
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def first_twice(form: Any, names: Iterable[str]) -> str:
    """The first of ``names`` the form sent more than once; "" when none was (which of two
    values was meant is not the server's to guess)."""
    return next((name for name in names if len(form.getlist(name)) > 1), "")


PAGE_NUMBER = re.compile(r"[1-9][0-9]{0,5}")  # not str.isdigit, to which "²" is a digit


def page_of(asked: str, rows: int, per_page: int) -> tuple[int, int]:
    """(the page a list's ``?page=`` opens, its pages): the first for anything not a page
    number of one to six digits, the last for a number past it."""
    pages = max(1, math.ceil(rows / per_page))
    return min(int(asked) if PAGE_NUMBER.fullmatch(asked) else 1, pages), pages
