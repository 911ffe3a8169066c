"""The partner directory: configuration, not code (``$SHUANGSUI_HOME/partners.toml``).

::

    [[partner]]
    code = "310000"                       # the partner bureau's code (its log is shuangsui.310000)
    name = "上海市认证执法局"
    division = "310000"                   # the administrative division it supervises
    base_url = "https://exchange.sh.example/"
    keys = ["shuangsui.310000+1a2b3c4d+AX...="]   # its verifier keys (checkpoints, requests,
                                                  # cosignatures)
    [partner.check_items]                 # optional: their check-item code -> ours
    "SH-CCC-01" = "CCC-01"

A top-level ``witness_quorum = 2`` (before the first ``[[partner]]``) asks that a partner's
checkpoint be cosigned by that many distinct witnesses, other than its origin, before its
entries are applied (docs/exchange-protocol.md "Witnessing").

Check items match by code: the cooperation shares one check-item code list, and a partner
whose codes differ maps them here.

Each ``[[partner]]`` is read on its own: a bad entry (``keys = []`` is how a partner is
revoked) disables that partner only, with a warning naming its code and the field, and
``partners status`` says why. A code listed twice disables both entries (which keys are
meant is ambiguous). Only a file that is not TOML at all is an error for the whole directory.
"""

from __future__ import annotations

import logging
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from exchange.answers import shown
from exchange.errors import DirectoryError, NoteError
from exchange.notes import VerifierKey
from exchange.settings import exchange_settings, origin_of

logger = logging.getLogger(__name__)
_CODE = re.compile(r"[0-9]{6}")
_warned: set[tuple[str, str]] = set()  # (file, problem) already logged by this process


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


@dataclass(frozen=True)
class Disabled:
    """A directory entry that is not used, and why (``field`` names the offending field)."""

    entry: int  # position in the file: partner[entry]
    code: str | None  # the entry's code, when it has a readable one
    field: str
    reason: str

    def __str__(self) -> str:
        who = f"partner {self.code}" if self.code else "an entry without a valid code"
        return f"{who} (partner[{self.entry}]) disabled: {self.field}: {self.reason}"


@dataclass(frozen=True)
class Directory:
    partners: dict[str, Partner]
    disabled: tuple[Disabled, ...] = ()
    # how many distinct witnesses, other than a log's origin, must have cosigned a partner's
    # checkpoint before sync applies its entries (we count when we cosigned it); 0: no rule
    witness_quorum: int = 0


class _Bad(Exception):
    def __init__(self, field_name: str, reason: str):
        super().__init__(reason)
        self.field, self.reason = field_name, reason


def _field(row: dict[str, Any], name: str, pattern: re.Pattern | None) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _Bad(name, "required, a non-empty string")
    if pattern and not pattern.fullmatch(value):
        raise _Bad(name, f"{value!r} is not a 6-digit code")
    return value.strip()


def _base_url(value: str) -> str:
    """A partner's feed address: http(s), a host, and a path at most (a partner behind a proxy
    may serve it under one). Every request of a sync is built under it, so a user name or
    password in it (``https://user:pass@host``) would be sent to the partner on each one and
    written wherever the address is (its status, the log: the refusal names the address
    without it); a query or a fragment would end up inside each request's path, and a ``..``
    segment move it out of the partner's own."""
    try:
        url = urlsplit(value)
        url.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise _Bad("base_url", f"{value!r} is not a URL") from None
    if url.scheme not in ("http", "https") or not url.hostname:
        raise _Bad("base_url", f"{value!r} is not an http(s) URL with a host")
    if url.username is not None or url.password is not None:
        bare = url._replace(netloc=url.netloc.rpartition("@")[2])
        raise _Bad("base_url", f"{bare.geturl()!r} with a user name or password: remove them "
                   "(a partner is trusted by its keys)")  # fmt: skip
    if url.query or url.fragment or value.endswith(("?", "#")):
        raise _Bad("base_url", f"{value!r} has a query or a fragment: give the feed's address")
    if any(part in (".", "..") for part in url.path.split("/")):
        raise _Bad("base_url", f"{value!r} has a '.' or '..' segment: give the path itself")
    return value


def _partner(row: Any) -> Partner:
    if not isinstance(row, dict):
        raise _Bad("partner", "each [[partner]] must be a table")
    code = _field(row, "code", _CODE)
    name = _field(row, "name", None)
    division = _field(row, "division", _CODE)
    base_url = _base_url(_field(row, "base_url", None))
    raw_keys = row.get("keys")
    if not isinstance(raw_keys, list) or not raw_keys:
        raise _Bad("keys", "no verifier key (at least one is needed; an empty list revokes)")
    keys = []
    for k, text_key in enumerate(raw_keys):
        try:
            key = VerifierKey.parse(str(text_key))
        except NoteError as exc:
            raise _Bad(f"keys[{k}]", str(exc)) from None
        if key.name != origin_of(code):
            raise _Bad(f"keys[{k}]", f"key of {key.name!r}, not {origin_of(code)!r}")
        keys.append(key)
    items = row.get("check_items", {})
    if not isinstance(items, dict) or not all(isinstance(v, str) for v in items.values()):
        raise _Bad("check_items", "a table of code = code")
    return Partner(code, name, division, base_url.rstrip("/"), tuple(keys), items)


def _code_of(row: Any) -> str | None:
    code = row.get("code") if isinstance(row, dict) else None
    return code if isinstance(code, str) and _CODE.fullmatch(code) else None


def parse_directory(text: str, path: Path) -> Directory:
    """The partners of a directory file, each entry on its own; DirectoryError (naming the
    file) only when the file as a whole is not a directory."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DirectoryError(f"{path}: not valid TOML: {exc}") from None
    quorum = doc.get("witness_quorum", 0)
    if type(quorum) is not int or quorum < 0:
        raise DirectoryError(f"{path}: witness_quorum: {quorum!r} is not a whole number >= 0")
    rows = doc.get("partner", [])
    if not isinstance(rows, list):
        raise DirectoryError(f"{path}: partner: must be an array of tables ([[partner]])")
    parsed: list[tuple[int, Partner]] = []
    disabled: list[Disabled] = []
    for n, row in enumerate(rows):
        try:
            parsed.append((n, _partner(row)))
        except _Bad as bad:
            disabled.append(Disabled(n, _code_of(row), bad.field, bad.reason))
    codes = [_code_of(row) for row in rows]
    partners: dict[str, Partner] = {}
    for n, p in parsed:
        where = [f"partner[{i}]" for i, c in enumerate(codes) if c == p.code]
        if len(where) > 1:
            disabled.append(
                Disabled(n, p.code, "code", f"listed more than once ({', '.join(where)})")
            )
        else:
            partners[p.code] = p
    disabled.sort(key=lambda d: d.entry)
    for d in disabled:
        if (str(path), str(d)) not in _warned:
            _warned.add((str(path), str(d)))
            logger.warning("partner directory %s: %s", path, d)
    return Directory(partners, tuple(disabled), quorum)


def read_directory(path: Path | None = None) -> Directory:
    """The directory with its disabled entries; no file means no partners."""
    path = path or exchange_settings().partners_path
    try:
        if stat.S_ISFIFO(path.stat().st_mode):  # opening it waits for a writer: sync hung
            raise DirectoryError(f"{path}: not a regular file (a FIFO): name the directory file")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Directory({})
    except (OSError, UnicodeDecodeError) as exc:
        raise DirectoryError(f"{path}: cannot be read: {exc}") from None
    return parse_directory(text, path)


def load_directory(path: Path | None = None) -> dict[str, Partner]:
    """The configured partners by code, without the disabled ones."""
    return read_directory(path).partners


def get_partner(code: str, path: Path | None = None) -> Partner:
    directory = read_directory(path)
    if code in directory.partners:
        return directory.partners[code]
    why = [str(d) for d in directory.disabled if d.code == code]
    if why:
        raise DirectoryError(f"partner {code} is in the partner directory but {why[0]}")
    known = ", ".join(sorted(directory.partners)) or "none"
    # as typed, a control character escaped: an ESC would act on the terminal it is printed on
    raise DirectoryError(f"partner {shown(code, 40)} is not in the partner directory "
                         f"(known: {known})")  # fmt: skip
