"""Text a person typed or pasted: the control and invisible characters refused in it. SQLite
would store a control character, PostgreSQL refuses NUL, and an XLSX cell cannot hold most of
them (one pasted from Word, U+000B, broke a round's findings export). An invisible character
changes how the text around it shows without showing itself: a right-to-left override in a
witness's name showed the ceremony's digits reversed on the public round page."""

from __future__ import annotations

import re
import unicodedata

# The line and paragraph separators (U+2028, U+2029), pasted from Word or a PDF: a line break
# to a browser, none to a CSV reader, a spreadsheet or a terminal, so the text reads one way on
# a page and another in an export; free text keeps the ordinary line breaks (CR, LF) instead.
SEPARATORS = "\u2028\u2029"
# bidirectional controls, zero-width characters, a stray byte order mark and the separators
INVISIBLE = f"\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b-\u200d\u2060\ufeff{SEPARATORS}"
# The C0 controls, DEL and the C1 controls (U+0080-U+009F: no text either; a file of Windows
# quotes and dashes read as Latin-1 holds them, and U+0085 is a line break to some programs).
# Any control or invisible character: names, codes, one-line values.
CONTROL = re.compile(f"[\x00-\x1f\x7f-\x9f{INVISIBLE}]")
# free text (an allegation, a finding's description) keeps its tabs and line breaks
CONTROL_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{INVISIBLE}]")
# said of a separator in free text, where a line break is allowed: which one to use instead
LINE_BREAK = (
    ", a line break only some programs show: use an ordinary line break (Enter) where a new "
    "line is meant"
)


def one_line(text: str) -> str:
    """``text`` on one line, each run of whitespace (line breaks included) one space: words
    from outside (a teammate's reason, a partner's error) quoted where a line of their own
    could pass for ours (a link in a mail, a line of the operator's log)."""
    return " ".join(text.split())


# The longest reason a person gives (an ad hoc round's, a held commit's acceptance, a class
# override's, a decline of a partner's request): audited, and most of them published or signed
# into the partner log; every page's field (maxlength), command and service holds to it.
REASON_MAX = 1000
# The longest note of a change to a drawn team (a withdrawal's reason, a new date's): audited
# and shown to coordinators (their pages, the API), never published, signed or sent (a
# replacement's notice gives the cause only: the reason may be personal). Shorter than
# REASON_MAX because the API has promised it since replacements began (the body's ``note``
# and ``reason`` at most 500 characters, docs/operations.md), as the joint rounds' withdrawals
# have (joint.withdraw, joint.abandon); the same characters are refused as in every reason.
NOTE_MAX = 500


def half_width(text: str) -> str:
    """``text`` as a search or a look-up reads it: NFKC, so that a credit code or a number typed
    with a Chinese input method in full-width mode (９１３５…Ｇ, ＃１２) is the one typed in
    ASCII, and an ideographic space a space. Not for what is stored: only for finding it."""
    return unicodedata.normalize("NFKC", text)


def cut(text: str, limit: int) -> str:
    """``text`` as a refusal quotes it back: its first ``limit`` characters, and "…" if there
    were more (an address can be 100,000 characters long, a partner's statement 1 MiB; the
    page or the answer need not be)."""
    return text if len(text) <= limit else f"{text[:limit]}…"


def no_control(value: str) -> str:
    """``value`` as it is, if it holds no control or invisible character at all (a name, a
    code, a one-line value); ``ValueError`` naming the first one otherwise (a pydantic
    validator turns it into the field's error). One parameter: pydantic takes a second as its
    validation info."""
    return _refused(value, CONTROL)


def no_control_in_text(value: str) -> str:
    """Free text: tabs and line breaks allowed, any other control or invisible character
    refused."""
    return _refused(value, CONTROL_IN_TEXT)


def _refused(value: str, pattern: re.Pattern[str]) -> str:
    if m := pattern.search(value):
        char = m[0]
        if unicodedata.category(char) == "Cc":  # C0, DEL, C1: no name of their own
            what = f"the control character U+{ord(char):04X}"
        else:
            what = f"the invisible character U+{ord(char):04X} ({unicodedata.name(char)})"
            if char in SEPARATORS and pattern is CONTROL_IN_TEXT:
                what += LINE_BREAK
        raise ValueError(f"contains {what}; retype the value without it")
    return value
