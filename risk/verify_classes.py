#!/usr/bin/env python3
"""Recompute the risk classes of a round's frame from a classification bundle (stdlib only).

    python3 -I -S verify_classes.py BUNDLE_DIR

BUNDLE_DIR (written by ``shuangsui risk bundle ROUND``) holds ``rules.json`` (the rules as
canonical JSON), ``classification.json`` (the round, its frame commitment and the
classification in force when the round was committed), ``classes.jsonl`` (one line per frame
enterprise: its inputs, their digest, score, class and any approved override) and
``frame-enterprises.jsonl`` (the round's frame as committed). The check:

1. the folder holds these files, ``rules.yaml`` and this script, and nothing else;
2. the rules hash to the hash the classification names;
3. per enterprise: the inputs hash to their digest, the rules give the score and class stated,
   the class in force (an approved override wins) is the class the frame row carries;
4. the frame hashes to the round's frame commitment.

It prints how many classes it confirmed and exits 1 naming the first enterprise (or file)
that does not check. Shuangsui itself scores with :func:`score` of this file (docs/risk.md),
so what an outsider runs is what classified.

Not checked, and said so (``NOT CHECKED: ...``, naming them): an enterprise marked
``registry: true``, said to be outside the classification run, carries the registry's class (or
an approved override's). Nothing in the bundle shows that the run had no row for it, nor what
the registry held: its class is taken as stated. What the bundle does show is checked: such an
entry carries no inputs, digest, score or class of its own, and its class in force is the
frame's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLASSES = ("A", "B", "C", "D")
# what a classified entry carries, and an entry outside the classification (registry: true) may not
CLASSIFIED = ("inputs", "input_digest", "score", "class")
NAMED = 20  # enterprises named on the NOT CHECKED line
# What ``shuangsui risk bundle`` writes, and all a bundle may hold (``check_files``)
FILES = ("rules.json", "rules.yaml", "classification.json", "classes.jsonl",
         "frame-enterprises.jsonl", "verify_classes.py")  # fmt: skip


# ------------------------------------------------------------------ canonical bytes
def canonical(obj: Any) -> bytes:
    """Canonical JSON (sorted keys, no whitespace, UTF-8); the inputs hold no floats."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def input_digest(credit_code: str, inputs_json: bytes) -> str:
    """SHA-256 hex of ``credit_code || LF || canonical JSON of the inputs``."""
    return hashlib.sha256(credit_code.encode() + b"\n" + inputs_json).hexdigest()


def rules_hash(rules: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(rules)).hexdigest()


# ------------------------------------------------------------------ scoring (docs/risk.md §2)
def _band(age: int, limits: list[int]) -> int | None:
    """Index of the first band whose limit ``age`` (days, >= 0) does not pass; None if older
    than every band or dated after the classification date."""
    if age < 0:
        return None
    for i, limit in enumerate(limits):
        if age <= limit:
            return i
    return None


def _age(as_of: dt.date, day: str) -> int:
    return (as_of - dt.date.fromisoformat(day)).days


def _capped(lines: list[list[Any]], section: str, cap: int) -> None:
    """Append a line that brings the section's total down to ``cap`` when it passes it."""
    total = sum(p for s, _d, p in lines if s == section)
    if total > cap:
        lines.append([section, f"cap {cap}", cap - total])


def _results(lines: list[list[Any]], section: str, rule: dict, items: list, as_of: dt.date) -> None:
    for item in items:
        category, day = item[-2], item[-1]
        band = _band(_age(as_of, day), rule["age_days"])
        table = rule["points"].get(category)
        points = 0 if band is None or table is None else table[band]
        where = f"{item[0]} " if len(item) == 3 else ""
        lines.append([section, f"{where}{category} {day}", points])
    _capped(lines, section, rule["cap"])


def score(rules: dict[str, Any], inputs: dict[str, Any], as_of: dt.date) -> tuple[int, str, list]:
    """(score, class, lines): each line ``[section, detail, points]``, integers only.

    ``inputs`` keys, each omitted when empty: ``findings`` [[category, ISO date]],
    ``partner_results`` [[partner, category, ISO date]], ``abnormal_listed`` /
    ``serious_violation`` (true), ``certificates`` {suspended, withdrawn},
    ``complaints`` {count, commitment}, ``last_clean_check`` ISO date."""
    lines: list[list[Any]] = []
    _results(lines, "findings", rules["findings"], inputs.get("findings", []), as_of)
    _results(
        lines, "partner_results", rules["partner_results"], inputs.get("partner_results", []), as_of
    )
    floor = "A"
    for flag in ("abnormal_listed", "serious_violation"):
        if inputs.get(flag):
            rule = rules["lists"][flag]
            lines.append(["lists", flag, rule["points"]])
            floor = max(floor, rule.get("min_class", "A"))
    certs, rule = inputs.get("certificates", {}), rules["certificates"]
    for status in ("suspended", "withdrawn"):
        if certs.get(status):
            lines.append(
                ["certificates", f"{status} x{certs[status]}", certs[status] * rule[status]]
            )
    _capped(lines, "certificates", rule["cap"])
    count = inputs.get("complaints", {}).get("count", 0)
    if count:
        rule = rules["complaints"]
        lines.append(["complaints", f"upheld x{count}", count * rule["per_upheld"]])
        _capped(lines, "complaints", rule["cap"])
    clean, rule = inputs.get("last_clean_check"), rules["clean_check"]
    band = (
        None if not clean else _band(_age(as_of, clean), [b["within_days"] for b in rule["bands"]])
    )
    points = rule["otherwise"] if band is None else rule["bands"][band]["points"]
    lines.append(["clean_check", clean or "never", points])
    total = sum(p for _s, _d, p in lines)
    cls = "A"
    for name in CLASSES[1:]:
        if total >= rules["classes"][name]:
            cls = name
    if floor > cls:
        lines.append(["floor", f"min_class {floor}", 0])
        cls = floor
    return total, cls, lines


# ------------------------------------------------------------------ the frame (draw/frame.py)
def _lp(value: str) -> bytes:
    data = value.encode()
    return len(data).to_bytes(4, "big") + data


def _frame_row(row: dict[str, Any]) -> bytes:
    kinds = list(row["cert_kinds"])
    fields = [row["credit_code"], row["division_code"], row["risk_class"], row["stratum"],
              row["status"], row["note"], str(len(kinds)), *kinds]  # fmt: skip
    return b"".join(_lp(f) for f in fields)


def frame_commitment(rows: list[dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for row in rows:
        data = _frame_row(row)
        h.update(len(data).to_bytes(4, "big"))
        h.update(data)
    return h.hexdigest()


# ------------------------------------------------------------------ the check
class Failed(Exception):
    pass


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def check_outside(entry: dict, row: dict) -> None:
    """An entry marked ``registry: true``: what the bundle can show of it; raises. That the run
    had no row for it, and the registry's class, it cannot show (:meth:`Checked.not_checked`
    says so)."""
    code = entry["credit_code"]
    carried = [key for key in CLASSIFIED if key in entry]
    if carried:
        raise Failed(f"{code}: marked registry: true (outside the classification) but "
                     f"carries {', '.join(carried)}: one of the two is false")  # fmt: skip
    override = entry.get("override")
    if override and entry["in_force"] != override["class"]:
        raise Failed(f"{code}: class in force is {override['class']} (override "
                     f"{override['id']}); the bundle states {entry['in_force']}")  # fmt: skip
    if row["risk_class"] != entry["in_force"]:
        raise Failed(f"{code}: the frame carries {row['risk_class']}, the bundle states "
                     f"{entry['in_force']} (registry: true)")  # fmt: skip


def check_entry(rules: dict, as_of: dt.date, entry: dict, row: dict) -> str:
    """'confirmed' (recomputed from the rules and inputs) or 'registry' (marked outside the
    classification: checked only as far as :func:`check_outside` can); raises."""
    code = entry["credit_code"]
    if "registry" in entry:
        if entry["registry"] is not True:
            raise Failed(f"{code}: registry is {entry['registry']!r}: true or absent")
        check_outside(entry, row)
        return "registry"
    inputs = entry["inputs"]
    if input_digest(code, canonical(inputs)) != entry["input_digest"]:
        raise Failed(f"{code}: inputs do not match their digest {entry['input_digest'][:16]}")
    total, cls, _lines = score(rules, inputs, as_of)
    if total != entry["score"] or cls != entry["class"]:
        raise Failed(f"{code}: the rules give score {total} class {cls}; the bundle states "
                     f"score {entry['score']} class {entry['class']}")  # fmt: skip
    override = entry.get("override")
    in_force = override["class"] if override else cls
    if in_force != entry["in_force"] or row["risk_class"] != in_force:
        why = f" (override {override['id']})" if override else ""
        raise Failed(f"{code}: class in force is {in_force}{why}; the frame carries "
                     f"{row['risk_class']}")  # fmt: skip
    return "confirmed"


@dataclass
class Checked:
    """What a bundle showed: classes confirmed (``overrides`` of them by an approved override),
    and the enterprises marked ``registry: true``, whose classes it cannot show."""

    run_id: Any
    confirmed: int = 0
    overrides: int = 0
    outside: list[str] = field(default_factory=list)

    def not_checked(self) -> str:
        """The line that names what the bundle could not show."""
        n = len(self.outside)
        named = ", ".join(self.outside[:NAMED]) + (f" and {n - NAMED} more" if n > NAMED else "")
        return (
            f"NOT CHECKED: {n} {'class' if n == 1 else 'classes'} taken as stated, of "
            f"enterprises marked registry: true ({named}): nothing in this bundle shows that "
            f"classification run {self.run_id} had no row for them, nor that the class they "
            "carry is the registry's (or an approved override's); the bureau's records can"
        )


def check_files(directory: Path) -> None:
    """Nothing in the bundle's folder but FILES: a file or folder put beside them (a
    classes-v2.jsonl, notes.txt) is never checked, so it is named rather than passed over."""
    for path in sorted(directory.iterdir()):
        if path.name not in FILES:
            shown = path.name + "/" if path.is_dir() else path.name
            raise Failed(f"{shown} is in the bundle but not one of its files ({', '.join(FILES)})")


def verify(directory: Path) -> Checked:
    check_files(directory)
    meta = json.loads((directory / "classification.json").read_text(encoding="utf-8"))
    rules = json.loads((directory / "rules.json").read_text(encoding="utf-8"))
    if rules_hash(rules) != meta["rules_hash"]:
        raise Failed(f"rules.json does not hash to the rules hash {meta['rules_hash'][:16]}")
    as_of = dt.date.fromisoformat(meta["as_of"]) if meta.get("as_of") else dt.date.min
    frame = _jsonl(directory / "frame-enterprises.jsonl")
    entries = {e["credit_code"]: e for e in _jsonl(directory / "classes.jsonl")}
    checked = Checked(meta.get("run_id"))
    for row in frame:
        entry = entries.pop(row["credit_code"], None)
        if entry is None:
            raise Failed(f"{row['credit_code']}: in the frame, not in classes.jsonl")
        if check_entry(rules, as_of, entry, row) == "registry":
            checked.outside.append(row["credit_code"])
            continue
        checked.confirmed += 1
        checked.overrides += bool(entry.get("override"))
    if entries:
        raise Failed(f"{sorted(entries)[0]}: in classes.jsonl, not in the frame")
    if frame_commitment(frame) != meta["frame_commitment"]:
        raise Failed("frame-enterprises.jsonl does not match the round's frame commitment")
    return checked


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python3 -I -S verify_classes.py BUNDLE_DIR", file=sys.stderr)
        return 2
    try:
        checked = verify(Path(argv[1]))
    except Failed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"FAILED: unreadable bundle: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    unsaid = f"; {len(checked.outside)} NOT CHECKED (below)" if checked.outside else ""
    print(
        f"OK: {checked.confirmed} classes confirmed from the rules and inputs "
        f"({checked.overrides} by an approved override){unsaid}"
    )
    if checked.outside:
        print(checked.not_checked())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
