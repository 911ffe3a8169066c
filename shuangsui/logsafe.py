"""Keep bearer tokens out of every log line.

Inspectors open their assignment with a link ending in ``?token=...``, so the token is in the
request line that the server's access log writes, and may reach an exception message. A log
record factory redacts such values when any record is made, whichever logger or handler
(uvicorn's access log, Prefect's, the application's) ends up writing it:

* a ``token=`` (or ``access_token=``) parameter in a URL or query string,
* ``Bearer <value>``,
* a coordinator token (``ssc_...``).
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

REDACTED = "[redacted]"

_PATTERNS = (
    (re.compile(r"(?i)((?:^|[^A-Za-z0-9])(?:access_)?token=)[^&\s\"'#;]*"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"), rf"\1{REDACTED}"),
    (re.compile(r"ssc_[A-Za-z0-9_\-]+"), f"ssc_{REDACTED}"),
)


def redact(text: str) -> str:
    """``text`` with every token value replaced by ``[redacted]``."""
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
