"""The one grammar of round keys and plan ids: ``^[a-z0-9][a-z0-9-]{0,63}$``.

A round key names files (its verification bundle, its pages and open data on the public site)
and URLs, so it is checked where it is born: the API's request models, the CLI, the flows'
parameters and :func:`rounds.service.commit_round`. Keys recorded before this rule (the draw's
test vectors use ``FJ-2026-12-TEST``) are still read and verified; only new keys must fit.
Paths built from any key are contained separately (:mod:`shuangsui.paths`).
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from shuangsui.errors import UserError

KEY_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
KEY_RULE = (
    "1 to 64 characters: lowercase letters a-z, digits 0-9 and '-', starting with a letter "
    f"or digit ({KEY_PATTERN})"
)
_KEY = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")  # used with fullmatch: no trailing newline slips by

# A plan named by its file: path segments of letters, digits, '.', '_' and '-', each starting
# with a letter or digit (so never '..', never hidden, never absolute), relative to the plans dir.
PLAN_REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(/[A-Za-z0-9][A-Za-z0-9._-]{0,63}){0,7}$"
_PLAN_REF = re.compile(PLAN_REF_PATTERN[1:-1])
PLAN_REF_RULE = (
    "a plan id, or a .yaml file's path relative to the plans directory (letters, digits, "
    "'.', '_', '-' and '/'; no '..', not absolute)"
)


# A month, as plans, flows and pages name it: ASCII digits only (`\d` would take "２０２６-12").
# The largest id a row of ours can have: every table's id is an INTEGER, which PostgreSQL holds
# in four bytes. A larger number typed for an id (a lead's, an override's) names no row; sent to
# the database it was a DataError (PostgreSQL) or an OverflowError (SQLite, past eight bytes).
ROW_ID_MAX = 2**31 - 1
PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")  # used with fullmatch


class InvalidKey(UserError):
    """A round key or plan id outside the grammar; the message names the field and the rule."""

    def __init__(self, field: str, value: object, what: str, rule: str = KEY_RULE):
        self.field = field
        shown = repr(value if not isinstance(value, str) else value[:80])
        super().__init__(f"{field}: {shown} is not a valid {what}; a {what} is {rule}")


def is_key(value: object) -> bool:
    return isinstance(value, str) and _KEY.fullmatch(value) is not None


def check_round_key(value: object, *, field: str = "round_key") -> str:
    """``value`` if it is a valid round key; :class:`InvalidKey` naming ``field`` otherwise."""
    if not is_key(value):
        raise InvalidKey(field, value, "round key")
    return str(value)


def check_plan_id(value: object, *, field: str = "id") -> str:
    """``value`` if it is a valid plan id (same grammar: a scheduled round is keyed by it)."""
    if not is_key(value):
        raise InvalidKey(field, value, "plan id")
    return str(value)


def check_plan_ref(value: object, *, field: str = "plan") -> str:
    """A plan id, or a YAML file's path relative to the plans directory (no '..', not absolute)."""
    if isinstance(value, str) and (is_key(value) or _PLAN_REF.fullmatch(value)):
        return value
    raise InvalidKey(field, value, "plan reference", PLAN_REF_RULE)


def _round_key(value: str) -> str:
    if not is_key(value):
        raise ValueError(f"must be {KEY_RULE}")
    return value


def _plan_ref(value: str) -> str:
    if not (is_key(value) or _PLAN_REF.fullmatch(value)):
        raise ValueError(f"must be {PLAN_REF_RULE}")
    return value


# Types for pydantic models (API bodies): a 422 naming the field and the rule.
RoundKey = Annotated[
    str,
    AfterValidator(_round_key),
    WithJsonSchema({"type": "string", "pattern": KEY_PATTERN, "maxLength": 64}),
]
PlanRef = Annotated[
    str,
    AfterValidator(_plan_ref),
    WithJsonSchema({"type": "string", "pattern": PLAN_REF_PATTERN, "maxLength": 520}),
]


def adhoc_round_key(plan_id: str, seed_text: str) -> str:
    """``adhoc-<plan>-<10 hex>``, within the key grammar whatever the plan's file is called."""
    name = re.sub(r"[^a-z0-9-]+", "-", plan_id.lower()).strip("-")[:47] or "plan"
    return check_round_key(f"adhoc-{name}-{hashlib.sha256(seed_text.encode()).hexdigest()[:10]}")
