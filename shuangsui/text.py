"""Text a person typed or pasted: the control characters refused in it. SQLite would store
them, PostgreSQL refuses NUL, and an XLSX cell cannot hold most of them (one pasted from Word,
U+000B, broke a round's findings export)."""

from __future__ import annotations

import re

# any control character: names, codes, one-line values
CONTROL = re.compile("[\x00-\x1f\x7f]")
# free text (an allegation, a finding's description) keeps its tabs and line breaks
CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def no_control(value: str) -> str:
    """``value`` as it is, if it holds no control character at all (a name, a code, a one-line
    value); ``ValueError`` naming the first one otherwise (a pydantic validator turns it into
    the field's error). One parameter: pydantic takes a second as its validation info."""
    return _refused(value, CONTROL)


def no_control_in_text(value: str) -> str:
    """Free text: tabs and line breaks allowed, any other control character refused."""
    return _refused(value, CONTROL_IN_TEXT)


def _refused(value: str, pattern: re.Pattern[str]) -> str:
    if m := pattern.search(value):
        raise ValueError(
            f"contains the control character U+{ord(m[0]):04X}; retype the value without it"
        )
    return value
