"""Read the public record from the database (the only I/O of the renderer's inputs)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from registry.models import CheckItem
from rounds import disclosure
from rounds.models import PlanVersion, Round, RoundStatus, Selection, TeamChange
from rounds.notice import commitment_document
from shuangsui.clock import local_label
from shuangsui.config import Settings
from website import results
from website.model import PublicResult, PublicRound, ResultsNotRead, Site
from website.results import NewlyPublished

logger = logging.getLogger(__name__)
# every committed round is public: its commitment before the ceremony, its failure if it fails
PUBLIC_STATUSES = tuple(s.value for s in RoundStatus)
INFEASIBLE = re.compile(
    r"^(?P<code>\S+): needs (?P<size>\d+) inspectors, (?P<eligible>\d+) eligible .*"
    r"shortfall (?P<shortfall>\d+)$"
)


WITHHELD = "（检查时段结束后公开）"
# draw.core's words when the stored plan or frames no longer give the commitments: the draw
# was not made, and the round keeps no entropy, so it never has a bundle
ALTERED = "the frames or plan differ from the commitments recorded before entropy"


def failure_statement(error: str, *, revealed: bool = True) -> str:
    """Why a round failed, in plain Chinese, without what only auditors may see (which
    inspector is on leave or recused for which reason); the enterprise it stopped at is named
    only once the round is revealed."""
    m = INFEASIBLE.match(error or "")
    if (error or "").endswith(ALTERED):
        return (
            "本轮抽取未能完成：抽取时，本局存储的抽查计划或名录与抽取前公布的承诺值不符，"
            "说明承诺之后数据被改动过或已损坏，因此没有进行抽取，也不会有验证包。"
            "本轮不再抽取；同一事项如另行抽取，是承诺值不同的新的一轮。"
        )
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
) -> tuple[Site, list[NewlyPublished]]:
    """The public record as of ``now`` (default: the disclosure clock), and each shown version
    not yet recorded as published."""
    now = now or disclosure.now()
    with engine.connect() as conn:
        return build_site(conn, settings, read_rounds(conn, settings, now, round_keys))


def build_site(
    conn: sa.Connection,
    settings: Settings,
    round_rows: Sequence[RoundRow],
    results_of: Collection[str] | None = None,
) -> tuple[Site, list[NewlyPublished]]:
    """The site of ``round_rows``, with the results of the rounds in ``results_of`` (default:
    every round); any other round comes with no results, for a caller that has its files
    already (``website.parts``). Also each shown version not yet recorded as published, in
    (round, credit code) order.

    A round not yet revealed (rounds/disclosure.py) shows its commitment, plan (targeted
    codes withheld), entropy, seed and counts, and of its enterprises only those whose result
    is final; no bundle, and a failure statement without the enterprise's code."""
    heads = [r for r in round_rows if results_of is None or r.key in results_of]
    listed_of, unpublished = read_results(conn, settings, heads)
    replaced = _replaced(conn)
    rounds: list[PublicRound] = []
    for head in round_rows:
        r, doc, revealed = head.row, head.doc, head.revealed
        listed = listed_of.get(head.key, ResultsNotRead())
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
                results=listed,
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
                commitment_before_draw=bool(r["commitment_published_before_draw"]),
                replaced=replaced.get(r["round_key"], {}) if revealed else {},
            )
        )
    logger.info(
        "public record: %d round(s), %d read again with %d result(s)",
        len(rounds),
        len(heads),
        sum(len(r.results) for r in rounds if r.round_key in listed_of),
    )
    site = Site(settings.bureau_code, settings.bureau_name, settings.site_base_url, rounds)
    return site, unpublished


def _replaced(conn: sa.Connection) -> dict[str, dict[str, int]]:
    """Each round's members replaced after the draw, counted by cause (a few rows a year)."""
    tc = TeamChange.__table__.c  # type: ignore[attr-defined]
    out: dict[str, dict[str, int]] = {}
    q = sa.select(tc.round_key, tc.cause, sa.func.count()).group_by(tc.round_key, tc.cause)
    for key, cause, n in conn.execute(q):
        out.setdefault(key, {})[cause] = n
    return out


def read_results(
    conn: sa.Connection,
    settings: Settings,
    heads: Sequence[RoundRow],
    only: Mapping[str, Collection[str]] | None = None,
) -> tuple[dict[str, list[PublicResult]], list[NewlyPublished]]:
    """The results of the rounds ``heads`` as their pages list them (by round key), and their
    shown versions not yet recorded as published, in ``published_order``. Of a round in
    ``only``, the results of those credit codes alone."""
    keys = [head.key for head in heads]
    if not keys:
        return {}, []
    shown_of = results.read_versions(conn, keys, settings.timezone, only)
    drawn: dict[str, list[tuple[str, ...]]] = {}
    for row in results.read_drawn(conn, keys, only):
        drawn.setdefault(row[0], []).append(row)
    names = results.division_names({row[5] for rows in drawn.values() for row in rows})
    listed_of: dict[str, list[PublicResult]] = {}
    unpublished: list[NewlyPublished] = []
    for head in heads:
        listed_of[head.key], new = _listed(head, drawn.get(head.key, []), shown_of, names)
        unpublished += new
    return listed_of, sorted(unpublished, key=published_order)


def read_batches(conn: sa.Connection, keys: Sequence[str], size: int) -> list[list[str]]:
    """``keys`` in order, cut into runs of rounds read together: each run holds at most
    ``size`` drawn enterprises (a larger round is a run of its own). One read per run, not per
    round: PostgreSQL answers a read of the findings' tables with a scan of them, whether it
    is for one round or for many."""
    sel = Selection.__table__  # type: ignore[attr-defined]
    q = sa.select(sel.c.round_key, sa.func.count()).group_by(sel.c.round_key)
    sizes = {key: n for key, n in conn.execute(q.where(sel.c.round_key.in_(list(keys))))}
    runs: list[list[str]] = []
    held = 0
    for key in keys:
        n = sizes.get(key, 0)
        if not runs or held + n > size:
            runs.append([])
            held = 0
        runs[-1].append(key)
        held += n
    return runs


def _listed(
    head: RoundRow,
    drawn: Sequence[tuple[str, ...]],
    shown_of: Mapping[tuple[str, str], results.Shown],
    names: dict[str, str],
) -> tuple[list[PublicResult], list[NewlyPublished]]:
    listed: list[PublicResult] = []
    unpublished: list[NewlyPublished] = []
    round_key, revealed, item, item_code = (head.key, head.revealed, head.item_name,
                                            head.row["check_item_code"])  # fmt: skip
    public_result, newly_published = results.public_result, results.newly_published
    for row in drawn:
        key = (round_key, row[1])
        shown = shown_of.get(key)
        if shown is None and not revealed:  # the firms still to be checked stay unnamed
            continue
        listed.append(public_result(row, shown, item, names))
        if shown is not None and not shown.published:
            unpublished.append(newly_published(key, shown, item_code))
    return listed, unpublished


def published_order(v: NewlyPublished) -> tuple[str, str]:
    """The order the versions a publish shows for the first time are recorded and shared in:
    by round, then credit code."""
    return v.round_key, v.credit_code
