"""Plans as the rounds take them: found only inside the plans folder, YAML parsed by the draw,
checked against the registry's vocabulary, and ad hoc overrides applied within what the plan
allows."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlmodel import Session

from draw.canonical import canonical_json
from draw.errors import PlanError as DrawPlanError
from draw.plan import normalise_division, parse_plan, read_plan_yaml
from registry.divisions import divisions
from registry.models import CertificateKind, CertificateStatus, CheckItem
from shuangsui.errors import PlanError
from shuangsui.keys import check_plan_id
from shuangsui.paths import UnsafePath, inside

PLAN_SUFFIXES = (".yaml", ".yml")


def plan_files(plans_dir: Path) -> list[Path]:
    """The plan files of the plans folder, sorted, each resolved and contained: a link that
    leads out of the folder stops the lookup (a plan silently skipped would not be drawn)."""
    root, files = plans_dir.resolve(), []
    for path in sorted(root.rglob("*.y*ml")):
        try:
            files.append(inside(root, path.relative_to(root)))
        except UnsafePath:
            raise PlanError(
                f"{path}: leads outside the plans directory {plans_dir} (SHUANGSUI_PLANS_DIR); "
                "plans are read only from there"
            ) from None
    return files


def find_plan(plans_dir: Path, plan: str) -> Path:
    """A plan named by its ``id``, or by its file's path (relative to the plans folder, or to
    the working directory as in ``round commit plans/2026-12/rz-01-ccc.yaml``). Either way the
    file must lie inside the plans folder (``SHUANGSUI_PLANS_DIR``), symlinks included: a plan
    is the reviewed rule of a draw, never an arbitrary file."""
    return locate_plan(plans_dir, plan)[0]


def locate_plan(plans_dir: Path, plan: str) -> tuple[Path, str | None]:
    """:func:`find_plan`'s file, with its text when it was read to be found (named by its id;
    None when named by its file): a caller that reads the plan need not read it again."""
    if not plans_dir.is_dir():
        raise PlanError(f"plans directory {plans_dir} does not exist (SHUANGSUI_PLANS_DIR)")
    root, ref, outside = plans_dir.resolve(), Path(plan), False
    for candidate in (root / ref, Path.cwd() / ref):  # an absolute ``ref`` is taken as it is
        try:
            path = inside(root, candidate)
        except UnsafePath:
            outside = outside or candidate.exists()
            continue
        if path.is_file():
            if path.suffix not in PLAN_SUFFIXES:
                raise PlanError(f"plan {plan!r}: a plan file ends in .yaml or .yml")
            return path, None
    if outside:
        raise PlanError(
            f"plan {plan!r} is outside the plans directory {plans_dir} (SHUANGSUI_PLANS_DIR); "
            "plans are read only from there"
        )
    for path in plan_files(root):  # years of monthly plans: parsed only where the id may be
        try:
            text = read_plan(path)
            data = read_plan_yaml(text) if may_hold(text, plan) else None
        except (DrawPlanError, PlanError):
            continue  # one broken file does not hide the others' ids; named below
        if isinstance(data, dict) and data.get("id") == plan:
            return path, text
    unreadable = _unreadable(root)
    also = f"; unreadable, so not searched: {', '.join(unreadable)}" if unreadable else ""
    raise PlanError(f"plan {plan!r}: no such file, and no plan with that id in {plans_dir}{also}")


def found_plan(plans_dir: Path, plan: str) -> tuple[Path, str]:
    """:func:`find_plan`'s file with its text, read once: the text read to find it by its id,
    or the file named read now (not UTF-8: refused naming it, :func:`read_plan`). Read again,
    the file could say something else than what found it (its id edited away, another plan)."""
    path, text = locate_plan(plans_dir, plan)
    return path, read_plan(path) if text is None else text


def _unreadable(root: Path) -> list[str]:
    """The plan files of the folder that do not read, each with why (a plan sought by its id
    and not found may be one of them)."""
    unreadable = []
    for path in plan_files(root):
        try:
            read_plan_yaml(read_plan(path))
        except (DrawPlanError, PlanError) as exc:
            unreadable.append(f"{path.relative_to(root)} ({exc})")
    return unreadable


def may_hold(text: str, value: str) -> bool:
    """Whether a plan file's YAML ``text`` can give a field the string ``value`` (an id, a
    period): only if ``value`` stands in it, or a backslash does (a double-quoted YAML string
    may write any character as an escape). A file that cannot is not parsed: parsing is most
    of the time of a lookup, and the folder keeps every month's plans for years."""
    return value in text or "\\" in text


def read_plan(path: Path) -> str:
    """The text of a plan file, which must be UTF-8 (an editor may save it as GBK)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the plan as UTF-8"
        ) from None


def load_plan_text(text: str, *, source: str = "") -> tuple[dict[str, Any], str]:
    """Parse a YAML plan; errors name the file and the field."""
    try:
        plan = parse_plan(read_plan_yaml(text))
    except DrawPlanError as exc:
        raise PlanError(f"{source or 'plan'}: {exc}") from None
    check_plan_id(plan["id"], field=f"{source or 'plan'}: id")
    check_vocabulary(plan, source=source)
    return plan, text


def check_vocabulary(plan: Mapping[str, Any], *, source: str = "") -> None:
    """The draw treats certificate kinds and statuses as opaque strings; the registry does not.
    A plan naming a kind the registry never uses would silently draw from an empty frame."""
    checks = (
        ("population.cert_kinds", plan["population"]["cert_kinds"], CertificateKind),
        ("population.cert_statuses", plan["population"]["cert_statuses"], CertificateStatus),
    )
    for field_name, values, enum in checks:
        allowed = [e.value for e in enum]
        for i, value in enumerate(values):
            if value not in allowed:
                raise PlanError(
                    f"{source or 'plan'}: {field_name}.{i}: {value!r} is not one of "
                    f"{', '.join(allowed)}"
                )


def check_against_registry(
    plan: Mapping[str, Any], item: CheckItem | None, *, bureau_code: str, source: str = ""
) -> None:
    """What only this bureau's data can tell: the check item exists and covers the plan's
    certificate kinds, and every division lies in the bureau's jurisdiction. A plan failing
    either would draw from the wrong population (or none) and use up its round key."""
    where = source or "plan"
    if item is None:
        raise PlanError(
            f"{where}: check_item: {plan['check_item']!r} is not in the check-item list "
            "(import it with `shuangsui registry import check-items`)"
        )
    for i, kind in enumerate(plan["population"]["cert_kinds"]):
        if item.cert_kinds and kind not in item.cert_kinds:
            raise PlanError(
                f"{where}: population.cert_kinds.{i}: {kind!r} is not a certificate kind of "
                f"check item {item.code} ({item.name}); write "
                f"[{', '.join(item.cert_kinds)}] or choose another check item"
            )
    check_divisions(plan["population"]["divisions"], bureau_code=bureau_code,
                    within=f"{where}: population.")  # fmt: skip


def in_jurisdiction(division: str, bureau_code: str) -> bool:
    """Whether ``division`` (2, 4 or 6 digits) lies in the jurisdiction of ``bureau_code``:
    its code, trailing zero pairs dropped, starts with the bureau's (350000 holds 35, 3501 and
    350102)."""
    return normalise_division(division).startswith(normalise_division(bureau_code))


def check_divisions(codes: Sequence[str], *, bureau_code: str, within: str) -> None:
    """Each of ``codes`` (well formed: 2, 4 or 6 digits) is a division of the shipped GB/T 2260
    table (``registry.divisions``) in the bureau's jurisdiction; else a :class:`PlanError`
    naming ``{within}divisions.{i}`` (the code's place in ``codes``) and the code."""
    table, home = divisions(), normalise_division(bureau_code)
    for i, code in enumerate(codes):
        full = (normalise_division(code) + "0000")[:6]
        if not table.is_known(full):
            raise PlanError(
                f"{within}divisions.{i}: {full} is not a GB/T 2260 division code "
                "(registry/data/divisions.csv lists them)"
            )
        if not in_jurisdiction(code, bureau_code):
            raise PlanError(
                f"{within}divisions.{i}: {full} ({table.name(full)}) is outside this bureau's "
                f"jurisdiction {bureau_code} ({table.name(bureau_code)}); write a division "
                f"code starting {home}"
            )


def check_in_registry(
    conn: Connection, plan: Mapping[str, Any], *, bureau_code: str, source: str = ""
) -> None:
    """:func:`check_against_registry`, the plan's check item read through ``conn``."""
    with Session(bind=conn) as session:
        item = session.get(CheckItem, plan["check_item"])
    check_against_registry(plan, item, bureau_code=bureau_code, source=source)


def apply_overrides(plan: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """An ad hoc round may raise rates, cap the total or narrow the divisions; never lower a
    rate below the plan's (its rates are the legal minimums)."""
    from draw.plan import rate_fraction

    if not overrides:
        return plan
    doc = canonical_copy(plan)
    for key, value in overrides.items():
        if key == "rates":
            for cls, rate in dict(value).items():
                old = doc["strata"]["rates"].get(cls)
                if old is None:
                    raise PlanError(f"overrides.rates.{cls}: the plan has no rate for {cls}")
                try:
                    lower = rate_fraction(str(rate)) < rate_fraction(old)
                except ValueError as exc:  # not a percentage, or above 100%
                    raise PlanError(f"overrides.rates.{cls}: {exc}") from None
                if lower:
                    raise PlanError(
                        f"overrides.rates.{cls}: {rate} is below the plan's {old}; an ad hoc "
                        "round may only raise a rate"
                    )
                doc["strata"]["rates"][cls] = str(rate)
        elif key == "total_cap":
            doc["strata"]["total_cap"] = int(value)
        elif key == "divisions":
            doc["population"]["divisions"] = [str(d) for d in value]
        else:
            raise PlanError(
                f"overrides.{key}: unknown override (allowed: rates, total_cap, divisions)"
            )
    doc.pop("v", None)
    try:
        return parse_plan(doc)
    except DrawPlanError as exc:
        raise PlanError(f"overrides: {exc}") from None


def committed_plan(session: Session, plan_hash: str) -> dict[str, Any]:
    """The plan a round committed, as stored by its hash ({} when the store has none)."""
    from rounds.models import PlanVersion

    plan = session.get(PlanVersion, plan_hash)
    return json.loads(plan.canonical_json) if plan is not None and plan.canonical_json else {}


def canonical_copy(obj: Any) -> Any:
    return json.loads(canonical_json(obj))
