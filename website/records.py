"""Read the public record from the database (the only I/O of the renderer's inputs)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from findings.categories import (
    ACTION_LABELS,
    MEASURE_LABELS,
    RESULT_LABELS,
    CertificateAction,
    MeasureKind,
    ResultCategory,
)
from findings.records import ResultRecord, load_results
from registry.divisions import divisions
from registry.models import CheckItem, Enterprise
from rounds import disclosure
from rounds.models import PlanVersion, Round, RoundStatus, Selection
from rounds.notice import commitment_document
from shuangsui.clock import local_label
from shuangsui.config import Settings
from website.model import Correction, PublicResult, PublicRound, ResultsNotRead, Site

logger = logging.getLogger(__name__)
# every committed round is public: its commitment before the ceremony, its failure if it fails
PUBLIC_STATUSES = tuple(s.value for s in RoundStatus)
INFEASIBLE = re.compile(
    r"^(?P<code>\S+): needs (?P<size>\d+) inspectors, (?P<eligible>\d+) eligible .*"
    r"shortfall (?P<shortfall>\d+)$"
)


WITHHELD = "（检查时段结束后公开）"


def failure_statement(error: str, *, revealed: bool = True) -> str:
    """Why a round failed, in plain Chinese, without what only auditors may see (which
    inspector is on leave or recused for which reason); the enterprise it stopped at is named
    only once the round is revealed."""
    m = INFEASIBLE.match(error or "")
    if not m:
        return "本轮抽取未能完成：抽取参数与名录不相容（详见审计记录）。"
    who = m["code"] if revealed else WITHHELD
    return (
        f"本轮抽取未能完成：抽中的企业 {who} 需要 {m['size']} 名检查人员组成检查组，"
        f"但按回避、资格、请假和工作量上限等规则，符合条件的只有 {m['eligible']} 名，"
        f"还缺 {m['shortfall']} 名。本轮不再重新抽取；任何人都可以用本轮的验证包重新计算，"
        "确认抽取确实在这里无法继续。"
    )


def _t(model: Any) -> sa.Table:
    return model.__table__  # type: ignore[no-any-return]


def _measures(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "kind": m["kind"],
            "label": MEASURE_LABELS[MeasureKind(m["kind"])],
            "deadline": m.get("deadline") or "",
        }
        for m in items
    ]


def _certs(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "body": c["body"],
            "number": c["number"],
            "action": c["action"],
            "label": ACTION_LABELS[CertificateAction(c["action"])],
        }
        for c in items
    ]


def public_result(
    base: dict[str, Any], rec: ResultRecord | None, check_item: str, timezone: str
) -> PublicResult:
    from zoneinfo import ZoneInfo

    pub = rec.public if rec else None
    if pub is None:
        return PublicResult(
            **base, check_item=check_item, check_date="", result="", result_label=""
        )
    tz = ZoneInfo(timezone)
    assert rec is not None
    history = [
        Correction(
            v.version,
            v.state.final_at.astimezone(tz).date().isoformat()  # type: ignore[union-attr]
            if v.state.final_at
            else "",
            v.reason,
            v.result,
            RESULT_LABELS[ResultCategory(v.result)],
        )
        for v in rec.final_history
    ]
    return PublicResult(
        **base,
        check_item=check_item,
        check_date=pub.check_date.isoformat(),
        result=pub.result,
        result_label=RESULT_LABELS[ResultCategory(pub.result)],
        measures=_measures(pub.measures),
        certificates=_certs(pub.certificates),
        description=pub.description,
        version=pub.version,
        history=history if len(history) > 1 else [],
    )


def withheld_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan as shown before its round is revealed: the targeted enterprises' codes and
    reasons give way to a placeholder (their number stays); every other field as committed."""
    targeted = plan.get("targeted", {})
    if not targeted.get("list"):
        return plan
    hidden = [{"credit_code": WITHHELD, "reason": WITHHELD} for _ in targeted["list"]]
    return plan | {"targeted": targeted | {"list": hidden}}


@dataclass(frozen=True)
class RoundRow:
    """A public round as read from the database, with its plan, before its results."""

    row: dict[str, Any]  # the round's columns, its plan's canonical_json and item_name
    doc: dict[str, Any]  # the plan
    item_name: str
    rule: str  # its disclosure (rounds/disclosure.py)
    revealed: bool  # as of the publish's ``now``

    @property
    def key(self) -> str:
        return str(self.row["round_key"])


def read_rounds(
    conn: sa.Connection,
    settings: Settings,
    now: datetime,
    round_keys: Sequence[str] | None = None,
) -> list[RoundRow]:
    """Every public round (or those of ``round_keys``) in key order, revealed or not as of
    ``now``."""
    rnd, plan, item = _t(Round), _t(PlanVersion), _t(CheckItem)
    q = (
        sa.select(rnd, plan.c.canonical_json, item.c.name.label("item_name"))
        .join(plan, plan.c.plan_hash == rnd.c.plan_hash)
        .join(item, item.c.code == rnd.c.check_item_code, isouter=True)
        .where(rnd.c.status.in_(PUBLIC_STATUSES))
        .order_by(rnd.c.round_key)
    )
    if round_keys is not None:
        q = q.where(rnd.c.round_key.in_(list(round_keys)))
    rows = []
    for r in conn.execute(q).mappings():
        doc = json.loads(r["canonical_json"])
        rule = disclosure.policy(doc)
        revealed = disclosure.is_revealed(
            disclosure=rule,
            window_end=r["window_end"],
            status=str(r["status"]),
            now=now,
            zone=settings.timezone,
            recorded=r["revealed_at"] is not None,
        )
        rows.append(RoundRow(dict(r), doc, r["item_name"] or r["check_item_code"], rule, revealed))
    return rows


def load_site(
    engine: Engine,
    settings: Settings,
    round_keys: Sequence[str] | None = None,
    *,
    now: datetime | None = None,
) -> tuple[Site, list[tuple[int, int]]]:
    """The public record as of ``now`` (default: the disclosure clock), and the (version id,
    finding id) of each shown version not yet recorded as published."""
    now = now or disclosure.now()
    with engine.connect() as conn:
        return build_site(conn, settings, read_rounds(conn, settings, now, round_keys))


def build_site(
    conn: sa.Connection,
    settings: Settings,
    round_rows: Sequence[RoundRow],
    results_of: Collection[str] | None = None,
) -> tuple[Site, list[tuple[int, int]]]:
    """The site of ``round_rows``, with the results of the rounds in ``results_of`` (default:
    every round); any other round comes with no results, for a caller that has its files
    already (``website.parts``). Also the (version id, finding id) of each shown version not
    yet recorded as published.

    A round not yet revealed (rounds/disclosure.py) shows its commitment, plan (targeted
    codes withheld), entropy, seed and counts, and of its enterprises only those whose result
    is final; no bundle, and a failure statement without the enterprise's code."""
    table = divisions()
    sel, ent = _t(Selection), _t(Enterprise)
    keys = [r.key for r in round_rows if results_of is None or r.key in results_of]
    records = {(r.round_key, r.credit_code): r for r in load_results(conn, keys)} if keys else {}
    drawn: dict[str, list[dict[str, Any]]] = {}
    sq = (
        sa.select(
            sel.c.round_key,
            sel.c.credit_code,
            sel.c.stratum,
            sel.c.kind,
            ent.c.name,
            ent.c.division_code,
        )
        .join(ent, ent.c.credit_code == sel.c.credit_code, isouter=True)
        .where(sel.c.round_key.in_(keys))
        .order_by(sel.c.round_key, sel.c.credit_code)
    )
    for rk, code, stratum, kind, name, div in conn.execute(sq) if keys else ():
        drawn.setdefault(rk, []).append(
            {
                "round_key": rk,
                "credit_code": code,
                "name": name or "",
                "division_code": div or "",
                "division_name": table.name(div) if div and table.is_known(div) else "",
                "stratum": stratum,
                "selection": kind,
            }
        )
    rounds: list[PublicRound] = []
    shown: set[tuple[str, str]] = set()
    for head in round_rows:
        r, doc, revealed = head.row, head.doc, head.revealed
        results: list[PublicResult] = ResultsNotRead()
        if head.key in keys:
            results = [
                public_result(
                    b, records.get((head.key, b["credit_code"])), head.item_name,
                    settings.timezone,
                )
                for b in drawn.get(head.key, [])
            ]  # fmt: skip
            if not revealed:  # the firms still to be checked stay unnamed
                results = [x for x in results if x.result]
            shown.update((x.round_key, x.credit_code) for x in results)
        first = r["commitment_published_at"]
        rounds.append(
            PublicRound(
                round_key=r["round_key"],
                kind=str(r["kind"]),
                period=r["period"],
                status=str(r["status"]),
                title=doc.get("title", ""),
                check_item_code=r["check_item_code"],
                check_item_name=head.item_name,
                legal_basis=list(doc.get("legal_basis", [])),
                plan_hash=r["plan_hash"],
                plan=doc if revealed else withheld_plan(doc),
                window_start=str(r["window_start"]),
                window_end=str(r["window_end"]),
                frame_commitment=r["frame_commitment"],
                frame_merkle_root=r["frame_merkle_root"],
                frame_size=r["frame_size"],
                inspector_commitment=r["inspector_commitment"],
                entropy=list(r["entropy"] or []),
                seed=r["seed"] or "",
                counts=dict(r["counts"] or {}),
                drawn_at=str(r["drawn_at"] or "")[:19],
                results=results,
                commitment=commitment_document(dict(r), doc, bureau_code=settings.bureau_code),
                failure=failure_statement(r["last_error"] or "", revealed=revealed)
                if str(r["status"]) == RoundStatus.failed.value
                else "",
                bundled=r["entropy"] is not None and revealed,
                disclosure=head.rule,
                revealed=revealed,
                reveal_on=disclosure.reveal_on(r["window_end"])
                if head.rule == disclosure.AFTER_WINDOW
                else "",
                commitment_first_published=local_label(first) if first else "",
            )
        )
    logger.info(
        "public record: %d round(s), %d read again with %d result(s)",
        len(rounds),
        len(keys),
        sum(len(r.results) for r in rounds if r.round_key in keys),
    )
    unpublished = [
        (pub.id, pub.finding_id)
        for key, rec in records.items()
        if (pub := rec.public) is not None and pub.published_at is None and key in shown
    ]
    site = Site(settings.bureau_code, settings.bureau_name, settings.public_base_url, rounds)
    return site, unpublished
