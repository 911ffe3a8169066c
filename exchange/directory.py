"""The partner directory: configuration, not code (``$SHUANGSUI_HOME/partners.toml``).

::

    [[partner]]
    code = "310000"                       # the partner bureau's code (its log is shuangsui.310000)
    name = "上海市认证执法局"
    division = "310000"                   # the administrative division it supervises
    base_url = "https://exchange.sh.example/"
    keys = ["shuangsui.310000+1a2b3c4d+AX...="]   # its verifier keys (checkpoints, requests)
    [partner.check_items]                 # optional: their check-item code -> ours
    "SH-CCC-01" = "CCC-01"

Check items match by code: the cooperation shares one check-item code list, and a partner
whose codes differ maps them here.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exchange.errors import DirectoryError, NoteError
from exchange.notes import VerifierKey
from exchange.settings import exchange_settings, origin_of

_CODE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class Partner:
    code: str
    name: str
    division: str
    base_url: str
    keys: tuple[VerifierKey, ...]
    check_items: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return origin_of(self.code)

    def our_check_item(self, theirs: str) -> str:
        return self.check_items.get(theirs, theirs)


def _field(path: Path, n: int, row: dict[str, Any], name: str, pattern: re.Pattern | None) -> str:
    value = row.get(name)
    where = f"{path}: partner[{n}].{name}"
    if not isinstance(value, str) or not value.strip():
        raise DirectoryError(f"{where}: required, a non-empty string")
    if pattern and not pattern.match(value):
        raise DirectoryError(f"{where}: {value!r} is not a 6-digit code")
    return value.strip()


def parse_directory(text: str, path: Path) -> dict[str, Partner]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DirectoryError(f"{path}: not valid TOML: {exc}") from None
    rows = doc.get("partner", [])
    if not isinstance(rows, list):
        raise DirectoryError(f"{path}: partner: must be an array of tables ([[partner]])")
    partners: dict[str, Partner] = {}
    for n, row in enumerate(rows):
        code = _field(path, n, row, "code", _CODE)
        name = _field(path, n, row, "name", None)
        division = _field(path, n, row, "division", _CODE)
        base_url = _field(path, n, row, "base_url", None)
        if not base_url.startswith(("http://", "https://")):
            raise DirectoryError(
                f"{path}: partner[{n}].base_url: {base_url!r} is not an http(s) URL"
            )
        raw_keys = row.get("keys")
        if not isinstance(raw_keys, list) or not raw_keys:
            raise DirectoryError(f"{path}: partner[{n}].keys: at least one verifier key")
        keys = []
        for k, text_key in enumerate(raw_keys):
            try:
                key = VerifierKey.parse(str(text_key))
            except NoteError as exc:
                raise DirectoryError(f"{path}: partner[{n}].keys[{k}]: {exc}") from None
            if key.name != origin_of(code):
                raise DirectoryError(
                    f"{path}: partner[{n}].keys[{k}]: key of {key.name!r}, not {origin_of(code)!r}"
                )
            keys.append(key)
        items = row.get("check_items", {})
        if not isinstance(items, dict) or not all(isinstance(v, str) for v in items.values()):
            raise DirectoryError(f"{path}: partner[{n}].check_items: a table of code = code")
        if code in partners:
            raise DirectoryError(f"{path}: partner[{n}].code: {code} is listed twice")
        partners[code] = Partner(code, name, division, base_url.rstrip("/"), tuple(keys), items)
    return partners


def load_directory(path: Path | None = None) -> dict[str, Partner]:
    """The configured partners by code; no file means no partners."""
    path = path or exchange_settings().partners_path
    if not path.exists():
        return {}
    return parse_directory(path.read_text(encoding="utf-8"), path)


def get_partner(code: str, path: Path | None = None) -> Partner:
    partners = load_directory(path)
    if code not in partners:
        known = ", ".join(sorted(partners)) or "none"
        raise DirectoryError(f"partner {code} is not in the partner directory (known: {known})")
    return partners[code]
