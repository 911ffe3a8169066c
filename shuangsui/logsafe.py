"""Keep bearer tokens out of every log line.

Inspectors open their assignment with a link ending in ``?token=...``, so the token is in the
request line that the server's access log writes, and may reach an exception message. A log
record factory redacts such values when any record is made, whichever logger or handler
(uvicorn's access log, Prefect's, the application's) ends up writing it:

* the value of any ``name=value`` pair whose name, percent-decoded (``+`` as a space, up to
  three times), has the word ``token`` in it, in any case: ``token=``, ``access_token=``,
  ``TOKEN=``, ``tok%65n=``, ``%74oken=``, and ``token%3D...`` (uvicorn writes a path with its
  ``=`` quoted). The server reads only a parameter named exactly ``token`` (``api.auth``), but
  a name it ignores may still carry a token someone meant to send;
* a query parameter's value, under any name, holding something shaped like a token shuangsui
  issues (an inspector's: 64 hex digits; a coordinator's: ``ssc_...``), percent-decoded;
* ``Bearer <value>``;
* a coordinator token (``ssc_...``, its ``_`` percent-encoded or not), wherever it stands;
* a quoted ``"token": "..."`` key in JSON or a Python ``repr``.

Not redacted: 64 hex digits in a path (``/evidence/{sha256}`` and draft files are named by
their SHA-256; the server never reads a token from a path, so one put there opens nothing).
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any
from urllib.parse import unquote, unquote_plus

REDACTED = "[redacted]"

# a pair's sign, and what ends its name (separators of a URL, a query or a log line) or its
# value; a name is looked at up to NAME_MAX characters back, so a line of many signs costs time
# in proportion to its length
_SIGN = re.compile(r"=|%3[dD]")
_NAME_STOP = re.compile(r"[\s&?;#=/\\\"'<>]")
_VALUE_END = re.compile(r"[&\s\"'#;<>]")
NAME_MAX = 64
_QUERY = frozenset("?&;")  # a pair right after one of these is a query parameter
_TOKEN_WORD = re.compile(r"(?<![a-z0-9])token(?![a-z0-9])")
_TOKEN_SHAPE = re.compile(r"[0-9a-fA-F]{64}|ssc_")

_PATTERNS = (
    (re.compile(r"(?i)(bearer(?:\s+|%20|\+))[^\s\"',;&]+"), rf"\1{REDACTED}"),
    (re.compile(r"ssc(?:_|%5[fF])[A-Za-z0-9_\-%]+"), f"ssc_{REDACTED}"),
    (re.compile(r"(?i)([\"'](?:access_)?token[\"']\s*:\s*[\"'])[^\"']*"), rf"\1{REDACTED}"),
)


def _names_a_token(name: str) -> bool:
    for _ in range(3):  # a name encoded twice over is still a name someone typed
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    return _TOKEN_WORD.search(name.lower()) is not None


def _pair_values(text: str) -> list[tuple[int, int]]:
    """Where the values to redact are in ``text``: (start, end) of each, in order."""
    spans: list[tuple[int, int]] = []
    run_end = -1  # where the run of value characters holding the last value ends
    after = 0  # the end of the last sign: a name starts after it (an encoded '=' ends one)
    for sign in _SIGN.finditer(text):
        at = sign.start()
        lo = max(after, at - NAME_MAX)
        after = sign.end()
        stop = _NAME_STOP.search(text[lo:at][::-1])
        first = at - stop.start() if stop else lo
        if first == at:  # no name: '==', '/=' ...
            continue
        # a name longer than NAME_MAX: where it starts is not looked for, so its value is
        # judged by its shape as a query parameter's is
        cut = stop is None and first == at - NAME_MAX
        start = sign.end()
        if start > run_end:
            end_of_run = _VALUE_END.search(text, start)
            run_end = end_of_run.start() if end_of_run else len(text)
        if _names_a_token(text[first:at]):  # the whole value, any '=' in it too
            spans.append((start, run_end))
        elif cut or (first > 0 and text[first - 1] in _QUERY):
            following = _SIGN.search(text, start, run_end)
            end = following.start() if following else run_end
            if _TOKEN_SHAPE.search(unquote(text[start:end])):
                spans.append((start, end))
    return spans


def redact(text: str) -> str:
    """``text`` with every token value replaced by ``[redacted]``."""
    out, at = [], 0
    for start, end in _pair_values(text):
        if end <= at:  # inside a value already redacted
            continue
        out.append(text[at : max(start, at)])
        out.append(REDACTED)
        at = end
    if out:
        text = "".join(out) + text[at:]
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_arg(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


def _redact_args(args: Any) -> Any:
    if isinstance(args, tuple):
        return tuple(_redact_arg(a) for a in args)
    if isinstance(args, dict):
        return {k: _redact_arg(v) for k, v in args.items()}
    return args


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record's message and its traceback, in place.

    The message is judged whole, after ``%`` interpolation (a token may be an argument that
    follows ``token=`` in the format). Where redacting the format and each argument alone gives
    the same text, the arguments are kept (uvicorn's access log formats from them); otherwise
    the record carries the redacted text and no arguments.
    """
    try:
        message = record.getMessage()
    except Exception:  # a bad format: the handler would print msg and args raw
        message = f"{record.msg} {record.args!r}"
        record.args = ()
    clean = redact(message)
    if clean != message:
        msg = redact(record.msg) if isinstance(record.msg, str) else record.msg
        args = _redact_args(record.args)
        split = logging.LogRecord(record.name, record.levelno, "", 0, msg, args, None)
        try:
            same = split.getMessage() == clean
        except Exception:
            same = False
        record.msg, record.args = (msg, args) if same else (clean, ())
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        # formatted now, so a handler uses this text instead of formatting the raw exception
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip())
    return record


_installed = False


def install() -> None:
    """Redact every record this process makes from now on. Idempotent."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = True
