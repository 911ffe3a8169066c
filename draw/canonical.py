"""Canonical bytes for everything that is hashed.

Two encodings, both reproducible with the Python standard library alone:

* length-prefixed UTF-8 fields: ``len(field) as 4-byte big-endian || field bytes``;
* canonical JSON: ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
  encoded as UTF-8, restricted to dict (str keys) / list / str / int / bool / None. No floats:
  for such values the output coincides with RFC 8785 (JCS).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

__all__ = ["canonical_json", "check_json_value", "lp", "lp_fields", "sha256", "sha256_hex"]

_MAX_FIELD = 2**32 - 1
_MAX_SAFE_INT = 2**53 - 1  # RFC 8785 / I-JSON: larger integers are not exact in JSON numbers


def lp(value: str | bytes) -> bytes:
    """One length-prefixed field: 4-byte big-endian byte length, then the UTF-8 bytes."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    if len(data) > _MAX_FIELD:
        raise ValueError("field longer than 2**32-1 bytes")
    return len(data).to_bytes(4, "big") + data


def lp_fields(fields: Iterable[str]) -> bytes:
    """Concatenation of length-prefixed fields."""
    return b"".join(lp(f) for f in fields)


def check_json_value(obj: Any, path: str = "$") -> None:
    """Raise TypeError unless ``obj`` only holds dict/list/str/int/bool/None (no floats)."""
    if obj is None or isinstance(obj, bool | str):
        return
    if isinstance(obj, int):
        if abs(obj) > _MAX_SAFE_INT:
            raise TypeError(f"{path}: integer {obj} outside the I-JSON range +-(2**53 - 1)")
        return
    if isinstance(obj, float):
        raise TypeError(f"{path}: floats are not allowed in canonical JSON ({obj!r})")
    if isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            check_json_value(item, f"{path}[{i}]")
        return
    if isinstance(obj, dict):
        for key, item in obj.items():
            if not isinstance(key, str):
                raise TypeError(f"{path}: dict key {key!r} is not a string")
            check_json_value(item, f"{path}.{key}")
        return
    raise TypeError(f"{path}: {type(obj).__name__} is not allowed in canonical JSON")


def canonical_json(obj: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no whitespace, UTF-8, no floats)."""
    check_json_value(obj)
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
