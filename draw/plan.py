"""Draw plans: YAML -> validated pydantic model -> canonical dict (no floats) -> plan hash.

The canonical dict is what is hashed, published (``plan.json``) and consumed by the draw; see
docs/draw-algorithm.md §3 for its exact shape.
"""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from .canonical import canonical_json, check_json_value, sha256_hex
from .errors import PlanError

__all__ = [
    "PLAN_VERSION",
    "Plan",
    "load_plan",
    "normalise_division",
    "normalise_rate",
    "parse_plan",
    "plan_hash",
    "rate_fraction",
]

DISCLOSURES = ("on-draw", "after-window")
DEFAULT_DISCLOSURE = "after-window"  # a plan that does not say: docs/draw-algorithm.md §4.1

PLAN_VERSION = 1
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_DIVISION_RE = re.compile(r"[0-9]{2}(?:[0-9]{2}){0,2}")  # fullmatch; ASCII digits
STRATUM_KEYS = ("division", "risk_class")


def normalise_rate(text: str) -> str:
    """'3.50 %' -> '3.5%'. A rate is a decimal percentage between 0% and 100%."""
    m = _RATE_RE.match(text)
    if not m:
        raise ValueError(f"rate {text!r} must be a percentage string such as '3%' or '0.5%'")
    value = Decimal(m.group(1))
    if value > 100:
        raise ValueError(f"rate {text!r} exceeds 100%")
    out = format(value.normalize(), "f")
    return f"{out}%"


def rate_fraction(text: str) -> Fraction:
    """Exact value of a normalised rate: '0.5%' -> Fraction(1, 200)."""
    return Fraction(Decimal(normalise_rate(text)[:-1])) / 100


def normalise_division(code: str) -> str:
    """A GB/T 2260 prefix: strip trailing '00' pairs ('350000' -> '35', '350100' -> '3501')."""
    if not _DIVISION_RE.fullmatch(code):
        raise ValueError(f"division {code!r} must be 2, 4 or 6 digits of a GB/T 2260 code")
    while len(code) > 2 and code.endswith("00"):
        code = code[:-2]
    return code


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Population(_Model):
    cert_kinds: list[StrictStr] = Field(min_length=1)
    cert_statuses: list[StrictStr] = Field(default_factory=lambda: ["valid"], min_length=1)
    divisions: list[StrictStr] = Field(min_length=1)
    directed: StrictBool = False
    risk_classes: list[StrictStr] = Field(default_factory=list)
    industries: list[StrictStr] = Field(default_factory=list)


class Strata(_Model):
    by: list[Literal["division", "risk_class"]] = ["division"]
    rates: dict[StrictStr, StrictStr]
    weights: dict[StrictStr, StrictInt] | None = None
    min_per_stratum: StrictInt = Field(default=1, ge=0)
    total_cap: StrictInt | None = Field(default=None, ge=0)
    # risk class -> months: a firm of that class not checked for this item in that many months
    # is targeted (docs/draw-algorithm.md §3.1 reason 5); omitted from the canonical plan if unset
    min_frequency: dict[StrictStr, StrictInt] | None = None


class Exclusions(_Model):
    window_months: StrictInt = Field(default=12, ge=0)


class TargetedEntry(_Model):
    credit_code: StrictStr = Field(min_length=1)
    reason: StrictStr = Field(min_length=1)


class Targeted(_Model):
    include_abnormal_listed: StrictBool = False
    include_serious_violation: StrictBool = False
    entries: list[TargetedEntry] = Field(default_factory=list, alias="list")


class Teams(_Model):
    size: StrictInt = 2
    expertise_required: StrictBool = True
    recuse_same_division: StrictBool = False
    recuse_recent_rounds: StrictInt = Field(default=0, ge=0)
    workload_cap: StrictInt = Field(ge=1)


class Window(_Model):
    start: dt.date
    end: dt.date


class Plan(_Model):
    id: StrictStr = Field(min_length=1)
    check_item: StrictStr = Field(min_length=1)
    period: StrictStr = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")  # ASCII digits
    title: StrictStr = Field(min_length=1)
    legal_basis: list[StrictStr] = Field(min_length=1)
    population: Population
    strata: Strata
    exclusions: Exclusions = Field(default_factory=Exclusions)
    targeted: Targeted = Field(default_factory=Targeted)
    teams: Teams
    window: Window
    # when the drawn list becomes public; absent = after-window, and absent from the canonical
    # plan (so every plan hash from before this field existed is unchanged)
    disclosure: Literal["on-draw", "after-window"] | None = None


def _check_semantics(p: Plan) -> None:
    """Rules pydantic cannot express; each failure names its field."""
    if "disclosure" in p.model_fields_set and p.disclosure is None:
        raise PlanError(
            "disclosure: write on-draw or after-window, or leave the key out (after-window)"
        )
    if p.teams.size < 2:
        raise PlanError(
            f"teams.size: {p.teams.size} < 2; 行政处罚法 art. 42 requires at least two "
            "enforcement officers (执法人员不得少于两人)"
        )
    if p.window.end < p.window.start:
        raise PlanError("window.end: before window.start")
    year, month = (int(x) for x in p.period.split("-"))
    first = dt.date(year, month, 1)
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    for name, day in (("start", p.window.start), ("end", p.window.end)):
        if not first <= day <= last:
            raise PlanError(
                f"window.{name}: {day.isoformat()} is outside the period {p.period}; write a "
                f"date from {first.isoformat()} to {last.isoformat()}"
            )
    if not p.population.directed and (p.population.risk_classes or p.population.industries):
        raise PlanError(
            "population.directed: filters (risk_classes, industries) need directed: true (定向)"
        )
    for i, code in enumerate(p.population.divisions):
        try:
            normalise_division(code)
        except ValueError as exc:
            raise PlanError(f"population.divisions.{i}: {exc}") from None
    for key, rate in p.strata.rates.items():
        try:
            normalise_rate(rate)
        except ValueError as exc:
            raise PlanError(f"strata.rates.{key}: {exc}") from None
    if "risk_class" not in p.strata.by and "*" not in p.strata.rates:
        raise PlanError("strata.rates: without 'risk_class' in strata.by a '*' rate is required")
    if p.strata.weights is not None:
        for key, w in p.strata.weights.items():
            if w < 1:
                raise PlanError(f"strata.weights.{key}: weights are integers >= 1")
    for cls, months in (p.strata.min_frequency or {}).items():
        if not cls or "/" in cls or cls == "*":
            raise PlanError(f"strata.min_frequency.{cls}: a risk class such as 'D'")
        if months < 1:
            raise PlanError(f"strata.min_frequency.{cls}: months must be an integer >= 1")
        if months < p.exclusions.window_months:
            raise PlanError(
                f"strata.min_frequency.{cls}: {months} months is shorter than "
                f"exclusions.window_months {p.exclusions.window_months}: a firm would be both "
                "left out as recently checked and due for a check"
            )
    codes = [t.credit_code for t in p.targeted.entries]
    if len(codes) != len(set(codes)):
        raise PlanError("targeted.list: a credit code is listed twice")
    if p.targeted.entries and not all(
        t.credit_code.strip() == t.credit_code for t in p.targeted.entries
    ):
        raise PlanError("targeted.list: credit codes must not contain surrounding spaces")


def _canonical(p: Plan) -> dict[str, Any]:
    pop = p.population
    strata = p.strata
    out: dict[str, Any] = {
        "v": PLAN_VERSION,
        "id": p.id,
        "check_item": p.check_item,
        "period": p.period,
        "title": p.title,
        "legal_basis": list(p.legal_basis),
        "population": {
            "cert_kinds": sorted(set(pop.cert_kinds)),
            "cert_statuses": sorted(set(pop.cert_statuses)),
            "divisions": sorted({normalise_division(d) for d in pop.divisions}),
            "directed": pop.directed,
            "risk_classes": sorted(set(pop.risk_classes)),
            "industries": sorted(set(pop.industries)),
        },
        "strata": {
            "by": [k for k in STRATUM_KEYS if k in strata.by],
            "rates": {k: normalise_rate(v) for k, v in strata.rates.items()},
            "weights": None if strata.weights is None else dict(strata.weights),
            "min_per_stratum": strata.min_per_stratum,
            "total_cap": strata.total_cap,
        },
        "exclusions": {"window_months": p.exclusions.window_months},
        "targeted": {
            "include_abnormal_listed": p.targeted.include_abnormal_listed,
            "include_serious_violation": p.targeted.include_serious_violation,
            "list": [
                {"credit_code": t.credit_code, "reason": t.reason}
                for t in sorted(p.targeted.entries, key=lambda t: t.credit_code)
            ],
        },
        "teams": {
            "size": p.teams.size,
            "expertise_required": p.teams.expertise_required,
            "recuse_same_division": p.teams.recuse_same_division,
            "recuse_recent_rounds": p.teams.recuse_recent_rounds,
            "workload_cap": p.teams.workload_cap,
        },
        "window": {"start": p.window.start.isoformat(), "end": p.window.end.isoformat()},
    } | ({} if p.disclosure is None else {"disclosure": p.disclosure})
    if strata.min_frequency is not None:  # only when stated: every earlier plan hash stands
        out["strata"]["min_frequency"] = dict(sorted(strata.min_frequency.items()))
    return out


def _field_name(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(x) for x in loc) or "plan"


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the model accepts at the mapping holding ``loc``'s last key."""
    model: Any = Plan
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None:  # a list index or a free-form mapping: step into the item type
            for f in model.model_fields.values():
                if f.alias == part:
                    field = f
            if field is None:
                continue
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        inner = next((a for a in (annotation, *args) if isinstance(a, type)
                      and issubclass(a, BaseModel)), None)  # fmt: skip
        if inner is None:
            return []
        model = inner
    return [f.alias or name for name, f in model.model_fields.items()]


def _hint(err: Any) -> str:
    if err["type"] == "string_type" and isinstance(err.get("input"), int | float):
        return " (quote codes and rates in YAML, e.g. '3501' or '3%')"
    if err["type"] == "extra_forbidden":
        known = _known_keys(err["loc"])
        close = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
        if close:
            return f": did you mean {close[0]!r}?"
        if known:
            return f" (known keys here: {', '.join(known)})"
    if err["type"] in ("date_from_datetime_parsing", "date_parsing", "date_type"):
        return " (write a real calendar date as YYYY-MM-DD, e.g. 2026-12-31)"
    return ""


def _reported(errors: list[Any]) -> Any:
    """The error to report: a misspelled key (``titel``) before the missing key it was meant
    to be (``title: Field required`` would never name what the plan says)."""
    missing = {tuple(e["loc"]) for e in errors if e["type"] == "missing"}
    for err in errors:
        if err["type"] == "extra_forbidden":
            *where, key = err["loc"]
            close = difflib.get_close_matches(str(key), _known_keys(err["loc"]), n=1)
            if close and (*where, close[0]) in missing:
                return err
    return errors[0]


def parse_plan(data: Any) -> dict[str, Any]:
    """Validate a plan mapping (e.g. from YAML) and return its canonical dict."""
    if not isinstance(data, dict):
        raise PlanError("plan: must be a mapping")
    try:
        plan = Plan.model_validate(data)
    except ValidationError as exc:
        err = _reported(exc.errors())
        raise PlanError(f"{_field_name(err['loc'])}: {err['msg']}{_hint(err)}") from None
    _check_semantics(plan)
    doc = _canonical(plan)
    try:  # a number the plan's hash cannot hold exactly (a total_cap of 2**53) is named here,
        check_json_value(doc)  # not a TypeError when the committed plan is hashed
    except TypeError as exc:
        raise PlanError(str(exc).removeprefix("$.")) from None
    return doc


class _PlanLoader(yaml.SafeLoader):
    """YAML without implicit timestamps: dates stay text until the plan model reads them, so
    an impossible date (``2026-11-31``) is an error naming its field, not a crash in YAML."""


_PlanLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_plan_yaml(text: str) -> Any:
    """The mapping a YAML plan holds; raises PlanError for text that is not YAML."""
    try:
        return yaml.load(text, Loader=_PlanLoader)
    except yaml.YAMLError as exc:
        raise PlanError(f"plan: not valid YAML: {_yaml_problem(exc)}") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: where the YAML went wrong (line and column as an editor counts them) and
    what was wrong there."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
    if mark is None:
        return problem
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and start is not None:
        return f"{where}: {problem} ({context} at line {start.line + 1}, column {start.column + 1})"
    return f"{where}: {problem}"


def load_plan(source: str | Path) -> dict[str, Any]:
    """Load a YAML plan from a path (``Path`` or a string ending in .yaml/.yml) or YAML text."""
    if isinstance(source, Path) or str(source).endswith((".yaml", ".yml")):
        text = Path(source).read_text(encoding="utf-8")
    else:
        text = str(source)
    return parse_plan(read_plan_yaml(text))


def plan_hash(canonical_plan: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the normalised plan."""
    return sha256_hex(canonical_json(canonical_plan))
