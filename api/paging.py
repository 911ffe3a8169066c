"""Pages of the coordinator's lists (``GET /rounds``, ``GET /leads``, ``GET /deadlines``).

After five years a bureau had 122 rounds, 305 leads and 5,780 results, and each list answered
every row it ever held. A list now answers ``limit`` rows (default 100, at most 500) and, when
more follow, the next page's address in a ``Link: <…>; rel="next"`` header (RFC 8288), as the
partner exchange's ``/entries`` does: the body stays the JSON array it was.

The pages are keyset pages: each list has a stable order on a key no two rows share, and
``after`` (opaque to the client: copy it from the link) holds the key of the last row sent.
The next page is the rows whose key comes after it. A walk to the end therefore sends each row
once, however many rows are added or removed meanwhile: a row added behind the point reached is
sent on a later page, one added before it on no page of this walk (an offset would have sent a
row twice, or skipped one, each time a row was added ahead of it).

Each parameter comes once (:data:`OnceEachParameter`): ``limit=700&limit=2`` was a page of 2 and
``all=true&all=false`` the late items only (the framework keeps the last), while a cache or a
proxy in front may key on the first.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError

T = TypeVar("T")
Key = tuple[Any, ...]

DEFAULT_LIMIT = 100
MAX_LIMIT = 500

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"rows a page (at most {MAX_LIMIT})")]
After = Annotated[
    str | None,
    Query(max_length=1000, description='the next page: as the `Link: <…>; rel="next"` gives it'),
]
NEXT_LINK = {
    "Link": {
        "description": 'the next page, `<…>; rel="next"`; absent on the last page',
        "schema": {"type": "string"},
    }
}


def once_each(request: Request) -> None:
    """Refuse a list's address with a parameter given more than once (422 naming each)."""
    counted = Counter(name for name, _ in request.query_params.multi_items())
    repeated = sorted(name for name, n in counted.items() if n > 1)
    if repeated:
        reason = "given more than once: send it once (the Link's address has each once)"
        raise RequestValidationError(
            [{"loc": ("query", name), "msg": reason, "type": "value_error"} for name in repeated]
        )


# a list route's parameter (after its caller's, so a request without a token is a 401 first)
OnceEachParameter = Annotated[None, Depends(once_each)]


def aware(text: str) -> dt.datetime:
    """A key's time, as :func:`encode` wrote it (with its offset: the columns are UTC)."""
    value = dt.datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError("a time without an offset")
    return value.astimezone(dt.UTC)  # here, not in the query: year 1 at +14:00 overflows


def encode(key: Key) -> str:
    """``after`` for the row of ``key``: its values as JSON (times and days in ISO 8601), in
    base64url without padding, so it passes in an address as it is."""
    values = [v.isoformat() if isinstance(v, dt.date) else v for v in key]
    raw = json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(after: str | None, parsers: Sequence[Callable[[Any], Any]]) -> Key | None:
    """The key ``after`` holds, each value read by its parser (``str``, ``int``,
    :func:`aware`, ``date.fromisoformat``); None without one. Anything else (a cursor of
    another list, an edited one) is a 422 naming ``after``, as a bad ``limit`` is."""
    if after is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(after + "=" * (-len(after) % 4))
        values = json.loads(raw.decode())
        if not isinstance(values, list) or len(values) != len(parsers):
            raise ValueError("not a key of this list")
        return tuple(_read(parse, value) for parse, value in zip(parsers, values, strict=True))
    except (ValueError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
        reason = 'not a page of this list: copy it from the answer\'s Link (rel="next")'
        raise RequestValidationError(
            [{"loc": ("query", "after"), "msg": reason, "type": "value_error"}]
        ) from None


def _read(parse: Callable[[Any], Any], value: object) -> Any:
    """One value of a key: a string or an integer as JSON has it (no bool for an int)."""
    if parse is int:
        if type(value) is not int or not -(2**63) <= value < 2**63:
            raise ValueError("not an integer a database holds")
        return value
    if not isinstance(value, str):
        raise ValueError("not a string")
    return parse(value)


def after_key(columns: Sequence[Any], key: Key, *, descending: bool = False) -> Any:
    """The SQL condition "the row's ``columns`` come after ``key``" in the order
    ``ORDER BY columns`` (all ascending, or all ``descending``): spelled out as
    ``a > x OR (a = x AND b > y)`` rather than a row comparison, which SQLite before 3.15
    cannot read. The ORDER BY and this condition compare with the same collation."""
    column, *rest = columns
    value, *more = key
    beyond = column < value if descending else column > value
    if not rest:
        return beyond
    return sa.or_(beyond, sa.and_(column == value, after_key(rest, tuple(more),
                                                             descending=descending)))  # fmt: skip


def page(
    rows: Sequence[T],
    limit: int,
    key: Callable[[T], Key],
    request: Request,
    response: Response,
    **params: Any,
) -> list[T]:
    """The first ``limit`` of ``rows`` (read ``limit + 1``, so one more says another page
    follows), and the ``Link`` to the next page when it does: this route with ``limit``, the
    route's ``params`` (its filters; None: left out) and ``after`` the last row's key. Only
    these: a parameter the route does not know is not sent back."""
    here = list(rows[:limit])
    if len(rows) > limit:
        query = {k: v for k, v in params.items() if v is not None}
        query |= {"limit": limit, "after": encode(key(here[-1]))}
        response.headers["Link"] = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
    return here
