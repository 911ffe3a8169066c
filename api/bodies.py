"""What a JSON body and its dates must be beyond what the framework checks.

* Each key once (:data:`OnceEachKey`). JSON allows a key twice and Python's reader keeps the last:
  ``{"due_on": "2027-01-05", "due_on": "2030-01-01"}`` was recorded as 2030-01-01, while a
  proxy, a log or another reader may take the first. Which one counts is not the server's to
  guess: the body is refused, naming the key.
* A day written ``YYYY-MM-DD`` (:data:`Day`, ``shuangsui.clock.Day``, which the findings'
  dates are too).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError

from shuangsui.clock import Day

__all__ = ["Day", "OnceEachKey"]


class _Repeated(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's members, refused when a key comes twice (``json.loads``' hook)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Repeated(key)
        out[key] = value
    return out


async def once_each(request: Request) -> None:
    """Refuse a JSON body with a key given twice in an object (422 naming it, as the
    framework names a field out of its schema: ``body.<key>``, by its name alone, the bodies
    of these routes being flat). A body that is not JSON is left to the framework, which has
    refused it before this runs."""
    try:
        json.loads(await request.body(), object_pairs_hook=_pairs)
    except _Repeated as exc:
        reason = "given more than once: send each field once"
        raise RequestValidationError(
            [{"loc": ("body", exc.key), "msg": reason, "type": "value_error"}]
        ) from None
    except (ValueError, RecursionError):
        return


# a route's parameter (after its caller's, so a request without a token is a 401 first)
OnceEachKey = Annotated[None, Depends(once_each)]
