"""Preflight: what a plan would draw, built exactly as a commit builds it, without committing.

A commit uses up its round key, so a commit over a broken registry loses the month. The
preflight builds the same frames, reports per stratum the population and the expected sample,
estimates whether teams can be formed, and compares with the last comparable round (the latest
committed round of the same check item). :func:`refusals` turns what looks wrong into reasons to
hold the commit: an empty population, a registry older than the configured age, or a frame that
moved more than the configured fraction. A coordinator may accept them with a reason, which the
round's audit log keeps. The reasons, and the strata that changed since the last round, are
typed (``rounds.holds``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlmodel import col, select

from draw.errors import FrameError
from draw.errors import PlanError as DrawPlanError
from draw.frame import (
    EnterpriseFrame,
    EnterpriseUnit,
    InspectorUnit,
    RowFields,
    build_enterprise_frame,
    build_inspector_frame,
)
from draw.select import stratum_quota, stratum_rate, trim_to_cap
from draw.teams import elimination_rule
from registry.models import RegistryImport
from rounds import frames
from rounds.holds import (
    Change,
    EmptyPopulation,
    FrameMoved,
    NeverImported,
    Refusal,
    RegistryStale,
    StratumAppears,
    StratumVanishes,
)
from rounds.models import PlanVersion, Round, RoundStatus
from rounds.plans import check_in_registry
from shuangsui.clock import local_label
from shuangsui.config import get_settings
from shuangsui.errors import PlanError

# Sources of targets for cause (credit_code -> reason), asked while the frames are built for a
# preflight or a commit: the leads register here (leads/hooks.py). Each gets the connection and
# the canonical plan; a code outside the plan's population is ignored by the frame.
CauseSource = Callable[[Connection, Mapping[str, Any]], Mapping[str, str]]
cause_sources: list[CauseSource] = []

MIN_FREQUENCY = "最低检查频次"


def min_frequency_due(
    conn: Connection, plan: Mapping[str, Any]
) -> Callable[[RowFields], str | None] | None:
    """``strata.min_frequency``: firms of a listed class not checked for this check item (by
    this bureau, or by a partner whose result we recognise) in that many months before the
    window starts. The returned test gives a row's reason, ``最低检查频次: D 类 12 个月内未检查``,
    or None; a plan without the rule gets no test (None)."""
    rules = plan["strata"].get("min_frequency") or {}
    if not rules:
        return None
    checked: dict[str, tuple[Mapping[str, str], str]] = {}  # class -> (checked firms, reason)
    for cls, months in sorted(rules.items()):
        cited = frames.recent_inspections(
            conn,
            check_item=plan["check_item"],
            window_start=dt.date.fromisoformat(plan["window"]["start"]),
            months=months,
        )
        checked[cls] = (cited, f"{MIN_FREQUENCY}: {cls} 类 {months} 个月内未检查")

    def due(row: RowFields) -> str | None:
        code, _, risk = row[:3]
        rule = checked.get(risk)
        if rule is None or code in rule[0]:
            return None
        return rule[1]

    return due


def _with_causes(
    conn: Connection, plan: Mapping[str, Any], rows: Iterable[RowFields], causes: dict
) -> Iterable[RowFields]:
    """``rows`` as they come, with every reason for cause the DB layer adds put in ``causes``
    (credit code -> reasons joined by ``；``: the sources in order, then the minimum frequency;
    docs/draw-algorithm.md §3.1 reasons 4 and 5). A row due by the minimum frequency has its
    reason added just before the row is handed on, so the rows are never held; without that
    rule the rows are handed on untouched (no step per row)."""
    found: dict[str, list[str]] = {}
    for source in cause_sources:
        for code, reason in sorted(source(conn, plan).items()):
            found.setdefault(code, []).append(reason)
    causes.update((code, "；".join(reasons)) for code, reasons in found.items())
    due = min_frequency_due(conn, plan)
    return rows if due is None else _due_rows(rows, due, found, causes)


def _due_rows(
    rows: Iterable[RowFields], due: Callable[[RowFields], str | None],
    found: Mapping[str, list[str]], causes: dict,
) -> Iterator[RowFields]:  # fmt: skip
    """``rows`` as they come, the reason of each due by the minimum frequency put in
    ``causes`` after the sources' reasons."""
    for row in rows:
        overdue = due(row)
        if overdue is not None:
            causes[row[0]] = "；".join([*found.get(row[0], ()), overdue])
        yield row


@dataclass(frozen=True)
class Frames:
    """Everything a commit freezes, as built from the registry now."""

    enterprises: EnterpriseFrame
    inspectors: tuple[InspectorUnit, ...]
    conflicts: frozenset[tuple[str, str]]
    recent: frozenset[tuple[str, str]]
    recently_inspected: int  # firms the exclusion window names (in the frame or not)
    # audit events naming what the classes came from (``frames.classes_in_force``): the
    # commit records them with the frame
    classes_from: tuple[object, ...]


def build_frames(conn: Connection, plan: Mapping[str, Any], *, source: str = "") -> Frames:
    """The frames of ``plan`` from the registry as it stands (shared by commit and preflight)."""
    exclusions = frames.recent_inspections(
        conn,
        check_item=plan["check_item"],
        window_start=dt.date.fromisoformat(plan["window"]["start"]),
        months=plan["exclusions"]["window_months"],
    )
    causes: dict[str, str] = {}  # filled as the rows pass (_with_causes)
    classes = frames.classes_in_force(conn)
    try:
        # closed here if the frame stops half read: on PostgreSQL the rows stream, and the
        # connection serves nothing else (not even its rollback) until the stream is closed
        with closing(frames.enterprise_rows(conn, plan, classes.classes)) as registry_rows:
            rows = _with_causes(conn, plan, registry_rows, causes)
            ents = build_enterprise_frame(rows, plan, exclusions, causes)
        insps = build_inspector_frame(frames.inspector_rows(conn))
    except (DrawPlanError, FrameError) as exc:
        raise PlanError(f"{source or 'plan'}: {exc}") from None
    conflicts = _in_frame(frames.conflict_pairs(conn), ents)
    recent = frames.recent_pairs(conn, plan["teams"]["recuse_recent_rounds"])
    return Frames(
        ents,
        tuple(insps),
        frozenset(conflicts),
        frozenset(_in_frame(recent, ents)),
        len(exclusions),
        classes.events,
    )


def _in_frame(pairs: Iterable[tuple[str, str]], ents: EnterpriseFrame) -> list[tuple[str, str]]:
    """The (inspector_id, credit_code) pairs whose enterprise is in the frame."""
    pairs = list(pairs)
    found = ents.find([code for _, code in pairs])
    return [pair for pair, at in zip(pairs, found, strict=True) if at >= 0]


@dataclass(frozen=True)
class StratumPreview:
    stratum: str
    rate: str
    eligible: int  # random units: the population the rate applies to
    targeted: int
    excluded: int
    expected: int  # the sample the draw will take (after the cap)


@dataclass(frozen=True)
class ClassPreview:
    """One risk class across the strata: what a coordinator sets rates by."""

    risk_class: str
    population: int  # random + targeted units of the class
    targeted: int
    due: int  # of those targeted, by the plan's minimum frequency
    excluded: int
    expected_random: Fraction  # exact when strata are by risk class, else a proportional share

    @property
    def expected(self) -> Fraction:
        return self.expected_random + self.targeted

    def label(self) -> str:
        """``12`` when exact, ``≈12.4`` when a share."""
        value = self.expected
        return str(value.numerator) if value.denominator == 1 else f"≈{float(value):.1f}"


@dataclass(frozen=True)
class Preflight:
    plan_id: str
    check_item: str
    strata: tuple[StratumPreview, ...]
    inspectors: int  # in the inspector frame
    qualified: int  # not inactive, credentialed, off leave, with the plan's expertise
    team_size: int
    workload_cap: int
    registry_imported_at: dt.datetime | None
    last_round: str | None = None
    last_frame_size: int | None = None
    changes: tuple[Change, ...] = field(default_factory=tuple)
    classes: tuple[ClassPreview, ...] = field(default_factory=tuple)

    @property
    def frame_size(self) -> int:
        return sum(s.eligible + s.targeted + s.excluded for s in self.strata)

    @property
    def population(self) -> int:
        return sum(s.eligible + s.targeted for s in self.strata)

    @property
    def expected_total(self) -> int:
        return sum(s.expected + s.targeted for s in self.strata)

    @property
    def visits_needed(self) -> int:
        return self.expected_total * self.team_size

    @property
    def visits_possible(self) -> int:
        return self.qualified * self.workload_cap

    @property
    def teams_feasible(self) -> bool:
        """An estimate (recusal and conflicts are checked by the draw itself): enough qualified
        inspectors for one team, and enough of their workload for every expected visit."""
        return self.qualified >= self.team_size and self.visits_possible >= self.visits_needed


def _qualified(insps: tuple[InspectorUnit, ...], plan: Mapping[str, Any]) -> int:
    kinds = tuple(plan["population"]["cert_kinds"])
    probe = EnterpriseUnit("", "", "", kinds, "")
    return sum(1 for i in insps if elimination_rule(i, probe, plan) is None)


def _last_import(conn: Connection) -> dt.datetime | None:
    at = conn.execute(sa.select(sa.func.max(col(RegistryImport.at)))).scalar()
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at


def _last_comparable(conn: Connection, plan: Mapping[str, Any]) -> Round | None:
    """The latest round of the same check item over the same population (divisions,
    certificate kinds and statuses, filters): the one whose frame this one should resemble."""
    rows = conn.execute(
        select(Round, PlanVersion.canonical_json)
        .join(PlanVersion, col(PlanVersion.plan_hash) == col(Round.plan_hash))
        .where(
            col(Round.check_item_code) == plan["check_item"],
            col(Round.status) != RoundStatus.failed,
        )
        .order_by(col(Round.committed_at).desc())
        .limit(50)
    )
    for row in rows:
        if json.loads(row.canonical_json)["population"] == plan["population"]:
            return Round.model_validate({k: row._mapping[k] for k in Round.model_fields})
    return None


def preflight(
    conn: Connection,
    plan: Mapping[str, Any],
    *,
    source: str = "",
    built: Frames | None = None,
    bureau_code: str | None = None,
) -> Preflight:
    """What committing ``plan`` now would freeze and draw. Without ``built`` (the frames a
    commit built, after checking the plan itself), the plan is first checked against the
    registry as a commit checks it (``bureau_code``: the settings' by default), so that a
    plan the commit would refuse is refused here, with the same :class:`PlanError`."""
    if built is None:
        code = bureau_code or get_settings().bureau_code
        check_in_registry(conn, plan, bureau_code=code, source=source)
        built = build_frames(conn, plan, source=source)
    ents = built.enterprises
    kinds: Counter[tuple[str, str, str, str]] = Counter()
    for r, n in ents.rest_counts().items():
        _, risk, _, stratum, status, note = ents.rests[r]
        kinds[stratum, risk, status, note] += n
    tally: dict[str, Counter[str]] = {}
    for (stratum, _, status, _), n in kinds.items():
        tally.setdefault(stratum, Counter())[status] += n
    strata = plan["strata"]
    quotas = {
        s: stratum_quota(stratum_rate(plan, s), c["random"], strata["min_per_stratum"])
        for s, c in tally.items()
    }
    expected = trim_to_cap(quotas, strata["total_cap"])
    previews = tuple(
        StratumPreview(
            s, str(stratum_rate(plan, s)), c["random"], c["targeted"], c["excluded"], expected[s]
        )
        for s, c in sorted(tally.items())
    )
    classes = _by_class(kinds, tally, expected)
    last = _last_comparable(conn, plan)
    changes: list[Change] = []
    if last is not None and last.counts:
        before, now = set(last.counts), set(tally)
        changes += [StratumAppears(s) for s in sorted(now - before)]
        changes += [StratumVanishes(s) for s in sorted(before - now)]
    return Preflight(
        plan_id=plan["id"],
        check_item=plan["check_item"],
        strata=previews,
        inspectors=len(built.inspectors),
        qualified=_qualified(built.inspectors, plan),
        team_size=plan["teams"]["size"],
        workload_cap=plan["teams"]["workload_cap"],
        registry_imported_at=_last_import(conn),
        last_round=last.round_key if last else None,
        last_frame_size=last.frame_size if last else None,
        changes=tuple(changes),
        classes=classes,
    )


def _by_class(
    units: Counter[tuple[str, str, str, str]],
    tally: Mapping[str, Counter[str]],
    expected: Mapping,
) -> tuple[ClassPreview, ...]:
    """Per risk class: the stratum's expected random sample is shared among its classes in
    proportion to their random units (exact when each stratum holds one class). ``units``
    counts the frame's units by (stratum, risk class, status, note)."""
    per: dict[str, Counter[str]] = {}
    share: dict[str, Fraction] = {}
    for (stratum, cls, status, note), count in sorted(units.items()):
        c = per.setdefault(cls, Counter())
        c[status] += count
        if status == "targeted" and MIN_FREQUENCY in note:
            c["due"] += count
        if status == "random":  # exact: the same sum as unit by unit, grouped
            n = tally[stratum]["random"]
            share[cls] = share.get(cls, Fraction(0)) + Fraction(expected[stratum] * count, n)
    return tuple(
        ClassPreview(cls, c["random"] + c["targeted"], c["targeted"], c["due"], c["excluded"],
                     share.get(cls, Fraction(0)))
        for cls, c in sorted(per.items())
    )  # fmt: skip


def refusals(
    report: Preflight, *, now: dt.datetime, max_age_days: int, max_change: float
) -> list[Refusal]:
    """Why this round should not be committed now; empty when it may be. Team feasibility is
    only shown (it is an estimate): a draw whose teams fail is recorded, bundled and verifiable."""
    out: list[Refusal] = []
    if report.population == 0:
        out.append(EmptyPopulation(report.plan_id))
    if report.registry_imported_at is None:
        out.append(NeverImported())
    elif now - report.registry_imported_at > dt.timedelta(days=max_age_days):
        out.append(RegistryStale(report.registry_imported_at, max_age_days))
    if report.last_frame_size:
        moved = abs(report.frame_size - report.last_frame_size) / report.last_frame_size
        if moved > max_change:
            out.append(
                FrameMoved(
                    frame_size=report.frame_size,
                    moved=moved,
                    last_size=report.last_frame_size,
                    last_round=report.last_round,
                    limit=max_change,
                )
            )
    return out


def describe(report: Preflight) -> list[str]:
    """The preview as lines a coordinator reads (CLI output, flow artifact, notification)."""
    lines = [
        f"plan {report.plan_id} (check item {report.check_item}): frame {report.frame_size} "
        f"enterprises, expected sample {report.expected_total}",
        f"  {'stratum':<20} {'rate':>8} {'random':>8} {'targeted':>9} {'excluded':>9} "
        f"{'expected':>9}",
    ]
    for s in report.strata:
        lines.append(
            f"  {s.stratum:<20} {s.rate:>8} {s.eligible:>8} {s.targeted:>9} {s.excluded:>9} "
            f"{s.expected:>9}"
        )
    if report.classes:
        lines.append(
            f"  {'risk class':<20} {'population':>10} {'targeted':>9} {'(due)':>6} "
            f"{'excluded':>9} {'expected':>9}"
        )
    for c in report.classes:
        lines.append(
            f"  {c.risk_class:<20} {c.population:>10} {c.targeted:>9} {c.due:>6} "
            f"{c.excluded:>9} {c.label():>9}"
        )
    feasible = "feasible" if report.teams_feasible else "INFEASIBLE"
    lines.append(
        f"  teams (estimate): {feasible}: {report.visits_needed} visits needed, "
        f"{report.qualified} of {report.inspectors} inspectors qualified x cap "
        f"{report.workload_cap} = {report.visits_possible}"
    )
    if report.last_round:
        lines.append(
            f"  last comparable round {report.last_round}: frame {report.last_frame_size}"
            + (f"; {', '.join(map(str, report.changes))}" if report.changes else "")
        )
    else:
        lines.append("  no earlier round of this check item to compare with")
    imported = report.registry_imported_at
    lines.append(f"  registry last imported {local_label(imported)}" if imported else
                 "  registry never imported")  # fmt: skip
    return lines
