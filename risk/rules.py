"""Risk rules: versioned YAML, checked field by field, hashed over canonical JSON.

The rules are data (``risk/rules/*.yaml``, or any file a coordinator names); their identity
is ``rules_hash`` = SHA-256 of their canonical JSON (draw/canonical.py), stored with every
class computed from them. Every number is an integer: a float anywhere is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from draw.canonical import canonical_json, sha256_hex
from findings.categories import ResultCategory
from shuangsui.errors import UserError

RULES_DIR = Path(__file__).parent / "rules"
DEFAULT_RULES = RULES_DIR / "2026-1.yaml"
CLASSES = ("A", "B", "C", "D")
CATEGORIES = frozenset(c.value for c in ResultCategory)


class RulesError(UserError):
    """Rules that cannot be used: the message names the file and the field."""


@dataclass(frozen=True)
class Rules:
    doc: dict[str, Any]  # canonical: exactly what is hashed and published
    text: str  # the YAML as written
    hash: str

    @property
    def id(self) -> str:
        return str(self.doc["id"])


def _int(value: Any, where: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RulesError(f"{where}: must be a whole number, not {value!r}")
    if minimum is not None and value < minimum:
        raise RulesError(f"{where}: must be at least {minimum}, not {value}")
    return value


def _map(value: Any, where: str, keys: set[str], optional: frozenset[str] = frozenset()) -> dict:
    if not isinstance(value, dict):
        raise RulesError(f"{where}: must be a mapping")
    missing = sorted(keys - set(value))
    unknown = sorted(set(value) - keys - optional)
    if missing:
        raise RulesError(f"{where}.{missing[0]}: missing")
    if unknown:
        raise RulesError(f"{where}.{unknown[0]}: unknown key (allowed: {', '.join(sorted(keys))})")
    return value


def _ascending(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not value:
        raise RulesError(f"{where}: must be a non-empty list of days")
    days = [_int(v, f"{where}.{i}", minimum=0) for i, v in enumerate(value)]
    if days != sorted(set(days)):
        raise RulesError(f"{where}: must be strictly increasing")
    return days


def _results(value: Any, where: str) -> dict[str, Any]:
    doc = _map(value, where, {"age_days", "points", "cap"})
    bands = _ascending(doc["age_days"], f"{where}.age_days")
    points = _map(doc["points"], f"{where}.points", set(), frozenset(CATEGORIES))
    for category, row in points.items():
        at = f"{where}.points.{category}"
        if not isinstance(row, list) or len(row) != len(bands):
            raise RulesError(f"{at}: must list {len(bands)} points, one per age band")
        for i, p in enumerate(row):
            _int(p, f"{at}.{i}")
    _int(doc["cap"], f"{where}.cap", minimum=0)
    return doc


def check(doc: Any, *, source: str = "rules") -> dict[str, Any]:
    """The rules document, checked; raise RulesError naming the first bad field."""
    top = {"id", "title", "classes", "findings", "partner_results", "lists", "certificates",
           "complaints", "clean_check"}  # fmt: skip
    doc = _map(doc, source, top)
    if not isinstance(doc["id"], str) or not doc["id"].strip():
        raise RulesError(f"{source}.id: must be a non-empty string")
    bounds = _map(doc["classes"], f"{source}.classes", set(CLASSES[1:]))
    values = [_int(bounds[c], f"{source}.classes.{c}") for c in CLASSES[1:]]
    if values != sorted(set(values)):
        raise RulesError(f"{source}.classes: B < C < D required, not {values}")
    _results(doc["findings"], f"{source}.findings")
    _results(doc["partner_results"], f"{source}.partner_results")
    lists = _map(doc["lists"], f"{source}.lists", {"abnormal_listed", "serious_violation"})
    for flag, rule in lists.items():
        at = f"{source}.lists.{flag}"
        _map(rule, at, {"points"}, frozenset({"min_class"}))
        _int(rule["points"], f"{at}.points")
        if rule.get("min_class", "A") not in CLASSES:
            raise RulesError(f"{at}.min_class: must be one of {', '.join(CLASSES)}")
    certs = _map(doc["certificates"], f"{source}.certificates", {"suspended", "withdrawn", "cap"})
    for key in certs:
        _int(certs[key], f"{source}.certificates.{key}", minimum=0)
    comp = _map(doc["complaints"], f"{source}.complaints", {"per_upheld", "within_days", "cap"})
    for key in comp:
        _int(comp[key], f"{source}.complaints.{key}", minimum=0)
    clean = _map(doc["clean_check"], f"{source}.clean_check", {"bands", "otherwise"})
    _int(clean["otherwise"], f"{source}.clean_check.otherwise")
    if not isinstance(clean["bands"], list):
        raise RulesError(f"{source}.clean_check.bands: must be a list")
    for i, band in enumerate(clean["bands"]):
        at = f"{source}.clean_check.bands.{i}"
        _map(band, at, {"within_days", "points"})
        _int(band["points"], f"{at}.points")
    _ascending([b["within_days"] for b in clean["bands"]] or [0], f"{source}.clean_check.bands")
    try:
        canonical_json(doc)  # no floats, no values JSON cannot carry exactly
    except TypeError as exc:
        raise RulesError(f"{source}: {exc}") from None
    return doc


def parse(text: str, *, source: str = "rules") -> Rules:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"{source}: not YAML: {' '.join(str(exc).split())}") from None
    doc = check(raw, source=source)
    return Rules(doc, text, sha256_hex(canonical_json(doc)))


def load(path: Path | None = None) -> Rules:
    path = path or DEFAULT_RULES
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:  # a YAML saved as GBK: said, not a traceback
        raise RulesError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                         f"{exc.start})") from None  # fmt: skip
    return parse(text, source=path.name)
