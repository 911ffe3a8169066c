"""A round's commitment, as published before the ceremony, and the two printed papers.

``commitment_document`` is the commitment as the public record keeps it: everything fixed at
commitment (plan, commitments, the named entropy source) and nothing that comes later, so the
published file never has to change once the round is drawn. ``render_notice`` and
``render_ceremony_record`` make the printable papers of ``shuangsui round notice``: the notice
for the notice board (公告, public) and the record the witnesses sign (抽取见证记录, internal).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from draw.canonical import canonical_json
from registry.models import CheckItem, Enterprise
from rounds.models import PlanVersion, Round, Selection
from shuangsui.clock import local_label
from shuangsui.config import Settings
from shuangsui.errors import NotFound
from shuangsui.files import remove_leftovers, write_atomic, writer_lock
from shuangsui.paths import child

RATE_LABELS = {"*": "其他"}


def commitment_document(
    rnd: Mapping[str, Any], plan: Mapping[str, Any], *, bureau_code: str
) -> dict[str, Any]:
    """The round's commitment, from what was fixed when it was committed (and only that:
    not the bureau's or the check item's current names, which may change later).

    ``rnd``: the round's columns (a row mapping or ``Round.model_dump()``)."""
    commitments: dict[str, Any] = {
        "plan_hash": rnd["plan_hash"],
        "frame_commitment": rnd["frame_commitment"],
        "frame_root": rnd["frame_merkle_root"],
        "frame_size": rnd["frame_size"],
        "inspector_commitment": rnd["inspector_commitment"],
        "inspector_root": rnd["inspector_merkle_root"],
        "inspector_size": rnd["inspector_frame_size"],
        "constraints_commitment": rnd["constraints_commitment"],
    }
    if rnd["draw_version"] >= 2:
        commitments |= {
            "public_inspector_commitment": rnd["public_inspector_commitment"] or "",
            "public_inspector_size": rnd["inspector_frame_size"],
            "public_recused_commitment": rnd["public_recused_commitment"] or "",
        }
    committed_at = rnd["committed_at"]
    if committed_at.tzinfo is None:  # the databases give UTC back without a zone
        committed_at = committed_at.replace(tzinfo=dt.UTC)
    return {
        "round_key": rnd["round_key"],
        "bureau_code": bureau_code,
        "kind": str(rnd["kind"]),
        "period": rnd["period"],
        "title": plan.get("title", ""),
        "check_item": rnd["check_item_code"],
        "legal_basis": list(plan.get("legal_basis", [])),
        "window": {"start": rnd["window_start"].isoformat(), "end": rnd["window_end"].isoformat()},
        "rates": dict(plan["strata"]["rates"]),
        "draw_version": rnd["draw_version"],
        "commitments": commitments,
        "entropy_sources": list((rnd["entropy_plan"] or {}).get("sources", [])),
        "committed_at": committed_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
    }


def commitment_bytes(doc: Mapping[str, Any]) -> bytes:
    """commitment.json: canonical JSON and a newline (the bytes never change once written)."""
    return canonical_json(dict(doc)) + b"\n"


def describe_source(spec: Mapping[str, Any]) -> str:
    """One entropy source named at commitment, in plain Chinese."""
    source = spec.get("source")
    if source == "witness-digits":
        return (
            f"抽取仪式上由见证人当场公开产生的随机数字（至少 {spec.get('min_digits', 20)} 位，"
            "例如投掷十面骰子），在本承诺公布之后产生"
        )
    if source == "beacon":
        when = spec.get("expected_at", "")
        label = local_label(dt.datetime.fromisoformat(when)) if when else "（时间见信标）"
        return (
            f"drand 公共随机信标第 {spec.get('round')} 轮（{spec.get('url', '')}，"
            f"链 {str(spec.get('chain_hash', ''))[:16]}…），预计 {label} 产生"
        )
    return f"{source}：" + json.dumps(dict(spec), ensure_ascii=False, sort_keys=True)


def ceremony_time(doc: Mapping[str, Any], given: str = "") -> str:
    """The ceremony's time if known: given, else the beacon's (the latest source), else ""."""
    if given:
        return given
    times = [s["expected_at"] for s in doc["entropy_sources"] if s.get("expected_at")]
    return local_label(dt.datetime.fromisoformat(max(times))) if times else ""


def rate_rows(rates: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(RATE_LABELS.get(k, f"风险等级 {k}"), v) for k, v in sorted(rates.items())]


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("rounds", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _context(doc: Mapping[str, Any], names: Names) -> dict[str, Any]:
    return {
        "c": doc,
        "names": names,
        "sources": [describe_source(s) for s in doc["entropy_sources"]],
        "rates": rate_rows(doc["rates"]),
        "committed_label": local_label(dt.datetime.fromisoformat(doc["committed_at"])),
    }


def render_notice(
    doc: Mapping[str, Any], names: Names, *, ceremony: str = "", place: str = ""
) -> str:
    """公告: the commitment for the notice board, to be posted before the ceremony."""
    return (
        _env()
        .get_template("notice/commitment.html.j2")
        .render(**_context(doc, names), ceremony=ceremony_time(doc, ceremony), place=place)
    )


@dataclasses.dataclass(frozen=True)
class DrawFacts:
    """What the ceremony produced, once the round is drawn (or failed)."""

    status: str
    witnesses: Sequence[str] = ()
    digits: str = ""
    seed: str = ""
    first: Sequence[tuple[int, str, str, str]] = ()  # (rank, credit_code, name, stratum)
    failure: str = ""


def render_ceremony_record(
    doc: Mapping[str, Any],
    names: Names,
    facts: DrawFacts,
    *,
    ceremony: str = "",
    place: str = "",
) -> str:
    """抽取见证记录: for the witnesses to sign; internal, never published."""
    return (
        _env()
        .get_template("notice/ceremony.html.j2")
        .render(**_context(doc, names), f=facts, ceremony=ceremony_time(doc, ceremony), place=place)
    )


# ---------------------------------------------------------------- from the database
FIRST_SELECTIONS = 10


@dataclasses.dataclass(frozen=True)
class Names:
    """Today's names, for people reading the papers (not part of the commitment)."""

    bureau: str
    check_item: str


def load_commitment(
    engine: Engine, round_key: str, settings: Settings
) -> tuple[dict[str, Any], Names]:
    """The commitment document of a committed (or later) round, and the names to show."""
    with Session(engine) as session:
        rnd = session.get(Round, round_key)
        if rnd is None:
            raise NotFound(f"round {round_key} does not exist (commit it first)")
        version = session.get(PlanVersion, rnd.plan_hash)
        item = session.get(CheckItem, rnd.check_item_code)
        plan = json.loads(version.canonical_json) if version else {}
        doc = commitment_document(rnd.model_dump(), plan, bureau_code=settings.bureau_code)
        return doc, Names(settings.bureau_name, item.name if item else rnd.check_item_code)


def draw_facts(engine: Engine, round_key: str) -> DrawFacts:
    """The ceremony's witnesses, digits, seed and first selections, as far as they exist."""
    with Session(engine) as session:
        rnd = session.get(Round, round_key)
        if rnd is None:
            raise NotFound(f"round {round_key} does not exist")
        records: list[dict[str, Any]] = list(rnd.entropy or [])
        witness = next((r for r in records if r.get("source") == "witness-digits"), {})
        sel: sa.Table = Selection.__table__  # type: ignore[attr-defined]
        ent: sa.Table = Enterprise.__table__  # type: ignore[attr-defined]
        rows = session.execute(
            sa.select(sel.c.rank, sel.c.credit_code, ent.c.name, sel.c.stratum)
            .join(ent, ent.c.credit_code == sel.c.credit_code, isouter=True)
            .where(sel.c.round_key == round_key)
            .order_by(sel.c.kind.desc(), sel.c.stratum, sel.c.rank)
            .limit(FIRST_SELECTIONS)
        ).all()
        return DrawFacts(
            status=rnd.status.value,
            witnesses=tuple(witness.get("witnesses", ())),
            digits=witness.get("digits", ""),
            seed=rnd.seed or "",
            first=[(rank, code, name or "", stratum) for rank, code, name, stratum in rows],
            failure=(rnd.last_error or "") if rnd.status.value == "failed" else "",
        )


def write_notices(
    engine: Engine,
    round_key: str,
    out: Path,
    settings: Settings,
    *,
    ceremony: str = "",
    place: str = "",
) -> tuple[Path, Path]:
    """Write the notice (公告) and the ceremony record (抽取见证记录) of a round into ``out``,
    each atomically; two runs into one folder take turns (``shuangsui.files``)."""
    doc, names = load_commitment(engine, round_key, settings)
    facts = draw_facts(engine, round_key)
    notice = child(out, f"{round_key}-notice.html")
    record = child(out, f"{round_key}-ceremony-record.html")
    pages = {
        notice: render_notice(doc, names, ceremony=ceremony, place=place),
        record: render_ceremony_record(doc, names, facts, ceremony=ceremony, place=place),
    }
    with writer_lock(out):
        remove_leftovers(out)
        for path, page in pages.items():  # the bureau's papers until printed: its own
            write_atomic(path, page.encode("utf-8"), mode=0o600)
    return notice, record
