"""The joint plan (YAML): who leads, who takes part, how many inspectors each gives per team,
the two deadlines, and the lead's draw plan (docs/draw-algorithm.md §4) under ``round``.

::

    joint: jt-2026-12                 # the joint round's key (a round key)
    lead: "350000"
    participants:                     # the lead first; inspectors per team from each bureau
      - {bureau: "350000", inspectors: 1}
      - {bureau: "310000", inspectors: 1}
    commit_deadline: 2026-12-01T09:00:00Z
    reveal_deadline: 2026-12-01T10:00:00Z
    replaces: jt-2026-11              # optional: a joint round that failed (its withholders
                                      # may not take part in this one)
    round: {id: ..., teams: {size: 2, ...}, ...}   # teams.size = the sum of inspectors

Canonical form (hashed into every commitment): docs/draw-algorithm.md §13.1.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from draw.canonical import canonical_json, check_json_value, sha256_hex
from draw.errors import PlanError as DrawPlanError
from draw.plan import parse_plan, read_plan_yaml
from shuangsui.errors import PlanError
from shuangsui.keys import check_round_key

__all__ = [
    "MAX_AHEAD",
    "RULE",
    "check_ahead",
    "joint_plan_hash",
    "parse_joint_plan",
    "read_joint_plan",
]

RULE = "withheld-fails"  # the rule for a missing reveal, fixed by protocol version 1
_CODE = re.compile(r"[0-9]{6}")
# How far ahead a deadline may lie: a round's check window lies within one month (its
# ``period``, draw/plan.py), and a joint round is decided within a month too. A deadline
# further on kept a withholder's or a silent partner's round waiting, years in a hostile plan.
MAX_AHEAD = dt.timedelta(days=31)
_KEYS = {"joint", "lead", "participants", "commit_deadline", "reveal_deadline", "replaces", "round"}


def _deadline(value: Any, field: str) -> str:
    text = value.isoformat() if isinstance(value, dt.datetime) else str(value or "")
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PlanError(f"{field}: {text!r} is not a time like 2026-12-01T09:00:00Z") from None
    if when.tzinfo is None:
        raise PlanError(f"{field}: {text!r} needs a time zone (write Z for UTC)")
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(text: str) -> dt.datetime:
    """A deadline as the canonical plan writes it (``2026-12-01T09:00:00Z``)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def check_ahead(plan: dict[str, Any], now: dt.datetime) -> None:
    """PlanError naming the deadline that has passed or lies more than :data:`MAX_AHEAD`
    from ``now`` (``joint commit``: ours, and a partner's plan we are asked to commit to)."""
    for field in ("commit_deadline", "reveal_deadline"):
        when = at(plan[field])
        if when <= now:
            raise PlanError(f"{field}: {plan[field]} has passed")
        if when - now > MAX_AHEAD:
            raise PlanError(
                f"{field}: {plan[field]} is {(when - now).days} days away; at most "
                f"{MAX_AHEAD.days} (a joint round is committed to and decided within a month)"
            )


def parse_joint_plan(data: Any) -> dict[str, Any]:
    """Validate a joint plan mapping; the canonical joint plan (errors name the field)."""
    if not isinstance(data, dict):
        raise PlanError("joint plan: must be a mapping")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise PlanError(f"{unknown[0]}: unknown field (known: {', '.join(sorted(_KEYS))})")
    joint = str(data.get("joint") or "")
    check_round_key(joint, field="joint")
    lead = str(data.get("lead") or "")
    if not _CODE.fullmatch(lead):
        raise PlanError(f"lead: {lead!r} is not a 6-digit bureau code")
    rows = data.get("participants")
    if not isinstance(rows, list) or len(rows) < 2:
        raise PlanError("participants: a list of at least two bureaus (the lead first)")
    participants: list[dict[str, Any]] = []
    for n, row in enumerate(rows):
        where = f"participants[{n}]"
        if not isinstance(row, dict) or set(row) != {"bureau", "inspectors"}:
            raise PlanError(f"{where}: needs exactly bureau and inspectors")
        bureau, count = str(row["bureau"]), row["inspectors"]
        if not _CODE.fullmatch(bureau):
            raise PlanError(f"{where}.bureau: {bureau!r} is not a 6-digit bureau code")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise PlanError(f"{where}.inspectors: an integer >= 1 (inspectors per team)")
        # a number the plan's hash cannot hold exactly (I-JSON, ``draw.canonical``): 2**60
        # passed every check, then stopped ``joint commit`` with a TypeError at the hash
        try:
            check_json_value(count, f"{where}.inspectors")
        except TypeError as exc:
            raise PlanError(str(exc)) from None
        participants.append({"bureau": bureau, "inspectors": count})
    codes = [p["bureau"] for p in participants]
    if len(set(codes)) != len(codes):
        raise PlanError("participants: a bureau is listed twice")
    if codes[0] != lead:
        raise PlanError(f"participants[0].bureau: must be the lead ({lead})")
    commit = _deadline(data.get("commit_deadline"), "commit_deadline")
    reveal = _deadline(data.get("reveal_deadline"), "reveal_deadline")
    if reveal <= commit:
        raise PlanError("reveal_deadline: must be after commit_deadline")
    gap = at(reveal) - at(commit)
    if gap > MAX_AHEAD:
        raise PlanError(
            f"reveal_deadline: {reveal} is {gap.days} days after commit_deadline {commit}; at "
            f"most {MAX_AHEAD.days} (a joint round is decided within a month, as a round's "
            "check window lies within its month)"
        )
    try:
        plan = parse_plan(data.get("round"))
    except DrawPlanError as exc:
        raise PlanError(f"round.{exc}") from None
    size = sum(int(p["inspectors"]) for p in participants)
    if plan["teams"]["size"] != size:
        raise PlanError(
            f"round.teams.size: {plan['teams']['size']}, but the participants "
            f"give {size} inspectors per team"
        )
    if plan["teams"]["recuse_recent_rounds"]:
        raise PlanError(
            "round.teams.recuse_recent_rounds: must be 0 in a joint round "
            "(each bureau's recent teams are its own)"
        )
    doc: dict[str, Any] = {
        "v": 1,
        "joint": joint,
        "lead": lead,
        "participants": participants,
        "commit_deadline": commit,
        "reveal_deadline": reveal,
        "on_withheld": RULE,
        "round": plan,
    }
    if data.get("replaces"):
        replaces = str(data["replaces"])
        check_round_key(replaces, field="replaces")
        doc["replaces"] = replaces
    return doc


def read_joint_plan(text: str) -> dict[str, Any]:
    try:
        data = read_plan_yaml(text)
    except DrawPlanError as exc:
        raise PlanError(f"joint plan: {exc}") from None
    return parse_joint_plan(data)


def joint_plan_hash(plan: dict[str, Any]) -> str:
    return sha256_hex(canonical_json(plan))


def team_plan(plan: dict[str, Any], bureau: str) -> dict[str, Any]:
    """The draw plan one bureau's inspectors are drawn with: teams.size = its inspectors."""
    count = next(p["inspectors"] for p in plan["participants"] if p["bureau"] == bureau)
    rnd = plan["round"]
    return {**rnd, "teams": {**rnd["teams"], "size": count}}
