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


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record's message, its ``%`` arguments and its traceback, in place."""
    if isinstance(record.msg, str):
        record.msg = redact(record.msg)
    if isinstance(record.args, tuple):
        record.args = tuple(_redact_arg(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: _redact_arg(v) for k, v in record.args.items()}
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
