"""What the coordinator's pages show, read as plain data: the month's plans and a round."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from draw.errors import PlanError as DrawPlanError
from draw.plan import read_plan_yaml
from findings.categories import RESULT_LABELS
from findings.overdue import report as overdue_report
from findings.records import ResultRecord, load_results
from notifications.models import Notification
from registry.divisions import divisions
from registry.models import Enterprise, Inspector
from rounds import entropy
from rounds.entropy import awaits_witnesses
from rounds.models import (
    Assignment,
    AuditEvent,
    Round,
    RoundKind,
    RoundStatus,
    Selection,
)
from rounds.plans import committed_plan, load_plan_text, plan_files, read_plan
from shuangsui.clock import local_label
from shuangsui.config import Settings
from shuangsui.errors import UserError
from shuangsui.text import CONTROL, half_width
from workspace.failures import failure_said, starts_again
from workspace.formvalues import page_of

logger = logging.getLogger(__name__)
FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,60}")

STATE_LABELS = {
    "not_committed": "未提交",
    "committed": "已提交，待摇号仪式",
    "drawn": "已摇号",
    "notified": "通知已送达",
    "in_progress": "检查结果填报中",
    "published": "已公示",
    "overdue": "已逾期",
    "failed": "摇号失败",
    "refused": "未能提交",  # an ad hoc round refused before its commit: no round to open
}


ROUND_STATUS = {"committed": "已提交", "drawn": "已摇号", "failed": "摇号失败", "closed": "已结束"}
DELIVERY = {"sent": "已送达", "pending": "待发送", "failed": "重试中", "dead": "投递失败"}
# where an enterprise of a round stands, by the code its row carries; the round page filters
# its table by these and by lateness (``RoundView.shown``)
STAGES = {"todo": "待填报", "signing": "待签字", "final": "已完成", "published": "已公示"}
FILTERS = {**STAGES, "late": "逾期"}


@dataclass(frozen=True)
class Progress:
    """How far a drawn round's enterprises are, as the round page counts them."""

    total: int  # enterprises drawn
    final: int  # whose latest version is final (published or not)
    signing: int  # whose latest version waits for a signature
    late: int  # past a deadline: for the finding, its publication or a correction's


@dataclass
class PlanRow:
    plan_id: str
    title: str
    window: str
    round_key: str
    state: str
    progress: Progress | None = None  # None: no round, or not drawn
    note: str = ""  # why an ad hoc round was refused before its commit

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]


@dataclass
class EnterpriseRow:
    credit_code: str
    name: str
    kind: str
    stratum: str
    team: list[str]
    delivery: str
    stage: str  # a key of STAGES
    state: str  # 待填报 / 待 X 签字 / 已完成 / 已公示
    result: str
    late: bool


@dataclass
class RoundView:
    round_key: str
    title: str  # the plan's title, as the month page and the notices say it
    status: str
    window: str
    drawn_at: str
    # stratum, the division it names ("" if none), random, targeted
    strata: list[tuple[str, str, int, int]] = field(default_factory=list)
    rows: list[EnterpriseRow] = field(default_factory=list)
    dead_elsewhere: int = 0  # dead letters not about one enterprise (the round's summary)
    awaits_ceremony: bool = False  # committed, the ceremony's digits not yet entered
    reason: str = ""  # an ad hoc round's reason, as its coordinator gave it
    failure: str = ""  # a failed round's reason, said in Chinese (``workspace.failures``)
    failure_record: str = ""  # and as the round records it
    failure_again: bool = False  # whether the page offers to start another round
    beacon_wait: str = ""  # committed, its beacon round named ahead: which, when, what next

    @property
    def dead_letters(self) -> int:
        return sum(r.delivery.count(DELIVERY["dead"]) for r in self.rows) + self.dead_elsewhere

    @property
    def signoff_queue(self) -> list[EnterpriseRow]:
        return self.shown("signing")

    @property
    def progress(self) -> dict[str, int]:
        done = sum(r.stage in ("final", "published") for r in self.rows)
        waiting = sum(r.stage == "signing" for r in self.rows)
        return {"total": len(self.rows), "final": done, "awaiting_signature": waiting}

    def shown(self, show: str) -> list[EnterpriseRow]:
        """The rows a filter of ``FILTERS`` keeps (every row for any other value)."""
        return kept(self.rows, show)


def kept(rows: list[EnterpriseRow], show: str) -> list[EnterpriseRow]:
    """The rows a filter of ``FILTERS`` keeps (every row for any other value)."""
    if show == "late":
        return [r for r in rows if r.late]
    return [r for r in rows if r.stage == show] if show in STAGES else rows


def counts(rows: list[EnterpriseRow]) -> dict[str, int]:
    """How many of ``rows`` each filter of ``FILTERS`` keeps."""
    return {show: len(kept(rows, show)) for show in FILTERS}


ROUND_PAGE = 100  # enterprises on one page of a round: a registry of 200,000 draws thousands
SOUGHT_MAX = 40  # characters of a search the page keeps (a name, a code, an inspector's name)


def sought(text: str) -> str:
    """What a coordinator typed in the round page's search, as the page searches for it and
    shows it back: in half-width (``shuangsui.text.half_width``: a code typed full-width found
    nothing), without control or invisible characters, its first ``SOUGHT_MAX``."""
    return CONTROL.sub("", half_width(text)).strip()[:SOUGHT_MAX]


def found(rows: list[EnterpriseRow], text: str) -> list[EnterpriseRow]:
    """The rows whose credit code, name or a team member's name holds ``text`` (letters in
    either case); every row when ``text`` is empty."""
    if not text:
        return rows
    want = text.casefold()
    return [
        r
        for r in rows
        if want in r.credit_code.casefold()
        or want in r.name.casefold()
        or any(want in member.casefold() for member in r.team)
    ]


@dataclass(frozen=True)
class EnterprisePage:
    """One page of a round's enterprises: ``ROUND_PAGE`` of the rows a filter keeps."""

    rows: list[EnterpriseRow]
    total: int  # the rows the filter keeps, on every page
    page: int  # from 1
    pages: int

    @property
    def first(self) -> int:
        """The number of this page's first row among ``total``, from 1."""
        return (self.page - 1) * ROUND_PAGE + 1


def enterprise_page(rows: list[EnterpriseRow], page: str) -> EnterprisePage:
    """Page ``page`` of ``rows`` (``?page=``: the first for anything not a page number, the
    last for a number past it)."""
    number, pages = page_of(page, len(rows), ROUND_PAGE)
    here = rows[(number - 1) * ROUND_PAGE : number * ROUND_PAGE]
    return EnterprisePage(here, len(rows), number, pages)


def _period(settings: Settings) -> str:
    return dt.datetime.now(ZoneInfo(settings.timezone)).strftime("%Y-%m")


def _why(path: Path, text: str | None, exc: Exception) -> str:
    """A short reason a plan file was skipped, without server paths or the parser's text."""
    if text is None:
        return "无法以 UTF-8 文本打开（请另存为 UTF-8）"
    try:
        read_plan_yaml(text)
    except DrawPlanError:
        return "不是有效的 YAML"
    where = str(exc).removeprefix(f"{path.name}: ").split(": ", 1)[0]
    if FIELD.fullmatch(where) and where != "plan":
        return f"字段 {where} 不符合计划格式"
    return "内容不符合计划格式"


@lru_cache(maxsize=1024)
def _parsed_once(text: str, name: str) -> str:
    """The plan a file's text holds, as JSON: parsed once per text (a plan that does not
    parse is parsed again, to be named again)."""
    plan, _ = load_plan_text(text, source=name)
    return json.dumps(plan, ensure_ascii=False)


def _parsed_plan(text: str, name: str) -> dict[str, Any]:
    """A plan of the folder, parsed only when its text is new. The folder keeps every month's
    plans for years (two a month: 120 files after five years took about a second to parse on
    every page listing plans); each caller gets a plan of its own to change."""
    return json.loads(_parsed_once(text, name))  # type: ignore[no-any-return]


def read_plans(plans_dir: Path) -> tuple[list[tuple[Path, dict[str, Any]]], list[str]]:
    """The plans of the folder that read, and a notice for each file that does not. One broken
    file must not hide the others; the notice names it by its file name only (the details go
    to the server log, not to the page)."""
    try:
        files = plan_files(plans_dir) if plans_dir.exists() else []
    except UserError as exc:
        logger.warning("plans folder skipped: %s", exc)
        return [], ["计划文件夹中有指向文件夹以外的链接，未读取任何计划；请联系管理员。"]
    plans, notices = [], []
    for path in files:
        text = None
        try:
            text = read_plan(path)
            plan = _parsed_plan(text, path.name)
        except (UserError, OSError) as exc:
            logger.warning("plan file skipped: %s: %s", path, exc)
            notices.append(f"计划文件 {path.name} 无法读取，已跳过：{_why(path, text, exc)}。")
            continue
        plans.append((path, plan))
    return plans, notices


def _stage_of(rec: ResultRecord) -> str:
    """A key of ``STAGES``: where an enterprise with these records stands."""
    if not rec.versions:
        return "todo"
    latest = rec.versions[-1]
    if not latest.state.final:
        return "signing"
    return "published" if latest.published_at is not None else "final"


def _round_state(
    engine: sa.Engine, rnd: Round, late: Counter[str], drawn: int
) -> tuple[str, Progress | None]:
    """The round's state on the month page, and its progress once drawn (``drawn``: its
    enterprises; ``late``: per round, enterprises past their deadline)."""
    if rnd.status is RoundStatus.committed:
        return "committed", None
    if rnd.status is RoundStatus.failed:  # nothing was drawn: no progress to count
        return "failed", None
    with engine.connect() as conn:
        records = load_results(conn, [rnd.round_key])
    stages = Counter(_stage_of(r) for r in records)
    progress = Progress(
        drawn, stages["final"] + stages["published"], stages["signing"], late[rnd.round_key]
    )
    if rnd.status is RoundStatus.closed:
        return "published", progress
    if late[rnd.round_key]:
        return "overdue", progress
    if records and all(r.public and r.public.published_at for r in records):
        return "published", progress
    if any(r.versions for r in records):
        return "in_progress", progress
    with Session(engine) as db:
        statuses = set(
            db.exec(
                select(Notification.status).where(Notification.round_key == rnd.round_key)
            ).all()
        )
    return ("notified" if statuses and statuses <= {"sent"} else "drawn"), progress


def month(
    engine: sa.Engine, settings: Settings, period: str = ""
) -> tuple[str, list[PlanRow], list[str]]:
    """Every plan of the period (from the plans folder) and every round of it, with state;
    and a notice for each plan file that could not be read."""
    period = period or _period(settings)
    rows: list[PlanRow] = []
    shown: set[str] = set()  # the rounds on their plan's row
    with Session(engine) as db:
        rounds = list(db.exec(select(Round).where(Round.period == period)).all())
        keys = [r.round_key for r in rounds]
        by_round = (
            sa.select(col(Selection.round_key), sa.func.count())
            .where(col(Selection.round_key).in_(keys))
            .group_by(col(Selection.round_key))
        )
        drawn: dict[str, int] = {key: n for key, n in db.execute(by_round)}
        titles = {r.round_key: round_title(db, r) for r in rounds}
    late = Counter(  # the month's rounds only: years of history are not this page's
        i.round_key for i in overdue_report(engine, round_keys=keys) if i.status == "late"
    )
    # a plan's row is its monthly round: an ad hoc round of the plan (one after the monthly
    # round failed, say) has a row of its own, as a round of a plan no longer in the folder does
    by_plan = {r.plan_id: r for r in rounds if r.kind == RoundKind.scheduled}
    plans, notices = read_plans(settings.plans_dir)
    for _path, plan in plans:
        if str(plan.get("period")) != period:
            continue
        window = plan.get("window", {})
        rnd = by_plan.get(plan["id"])
        state, progress = (
            _round_state(engine, rnd, late, drawn.get(rnd.round_key, 0))
            if rnd
            else ("not_committed", None)
        )
        rows.append(
            PlanRow(
                plan["id"],
                str(plan.get("title", "")),
                f"{window.get('start', '')} 至 {window.get('end', '')}",
                rnd.round_key if rnd else "",
                state,
                progress,
            )
        )
        if rnd:
            shown.add(rnd.round_key)
    for rnd in rounds:  # ad hoc rounds, and plans no longer in the folder
        if rnd.round_key not in shown:
            window = f"{rnd.window_start} 至 {rnd.window_end}"
            state, progress = _round_state(engine, rnd, late, drawn.get(rnd.round_key, 0))
            title = titles[rnd.round_key]
            if rnd.kind == RoundKind.adhoc:
                title = f"{title}（临时抽查：{rnd.reason}）"
            rows.append(PlanRow(rnd.plan_id, title, window, rnd.round_key, state, progress))
    rows += refused_in(engine, period, ZoneInfo(settings.timezone))
    return period, rows, notices


def refused_in(engine: sa.Engine, period: str, zone: ZoneInfo) -> list[PlanRow]:
    """The ad hoc rounds started in ``period`` (the bureau's month of the request) and refused
    in the background before their commit (``AdhocRefused``): the page that started one had
    answered already, and the key never became a round, so this row is where its coordinator
    learns why. Few a year: read whole, the month's kept."""
    from workspace.adhoc import recorded_refusal

    with Session(engine) as db:
        refused = select(AuditEvent).where(AuditEvent.event == "AdhocRefused")
        refusals = db.exec(refused.order_by(col(AuditEvent.seq))).all()
        keys = [e.round_key for e in refusals if e.round_key]
        rounds = set(db.exec(select(Round.round_key).where(col(Round.round_key).in_(keys))))
    rows = []
    for e in refusals:
        at = e.at if e.at.tzinfo else e.at.replace(tzinfo=dt.UTC)  # SQLite's: naive, UTC
        if e.round_key in rounds or at.astimezone(zone).strftime("%Y-%m") != period:
            continue
        said = json.loads(e.payload)
        title = f"临时抽查：{said['reason']}"
        row = PlanRow(said["plan"], title, "—", e.round_key or "", "refused")
        row.note = recorded_refusal(said["kind"], said["error"], said["plan"])
        rows.append(row)
    return rows


def _state(rec: ResultRecord | None, names: dict[str, str]) -> tuple[str, str, str]:
    """An enterprise's stage (a key of ``STAGES``), as the page says it, and its result."""
    if rec is None or not rec.versions:
        return "todo", STAGES["todo"], ""
    latest = rec.versions[-1]
    label = RESULT_LABELS.get(latest.result, latest.result)  # type: ignore[call-overload]
    stage = _stage_of(rec)
    if stage == "signing":
        who = "、".join(names.get(i, i) for i in latest.state.missing)
        return stage, f"待 {who} 签字", label
    return stage, STAGES[stage], label


def round_title(db: Session, rnd: Round) -> str:
    """The round's title as its notices give it: the committed plan's title (the plan's id if
    it has none), whether or not the plan's file is still in the plans folder."""
    return str(committed_plan(db, rnd.plan_hash).get("title") or rnd.plan_id)


def stratum_division(stratum: str, day: dt.date) -> str:
    """The name of the division a stratum's label starts with (``350100`` or ``350100/D``:
    docs/draw-algorithm.md §3.3), as it was on ``day``; "" when it names none."""
    return divisions().name(stratum.split("/", 1)[0], day)


def round_view(engine: sa.Engine, settings: Settings, round_key: str) -> RoundView | None:
    """The round's page as data. Its enterprises are read as rows of the columns it shows
    (a round of a registry of 200,000 draws thousands: an object a row made the page take
    seconds), the notices counted by the database."""
    zone = settings.timezone
    with Session(engine) as db:
        rnd = db.get(Round, round_key)
        if rnd is None:
            return None
        title = round_title(db, rnd)
    selection, enterprise = Selection.__table__, Enterprise.__table__  # type: ignore[attr-defined]
    assignment, inspector = Assignment.__table__, Inspector.__table__  # type: ignore[attr-defined]
    sel, asg, ent, ins = selection.c, assignment.c, enterprise.c, inspector.c
    note = Notification.__table__.c  # type: ignore[attr-defined]
    about = note.payload["credit_code"].as_string()  # the enterprise a notice is about
    with engine.connect() as conn:
        selections = sorted(
            conn.execute(
                sa.select(sel.credit_code, sel.kind, sel.stratum, sel.rank, ent.name)
                .outerjoin(enterprise, ent.credit_code == sel.credit_code)
                .where(sel.round_key == round_key)
            ),
            key=lambda s: (s.kind != "targeted", s.stratum, s.rank),  # in code points
        )
        teams: dict[str, list[str]] = {}
        names: dict[str, str] = {}  # the round's inspectors', by id
        for code, inspector_id, name in conn.execute(
            sa.select(asg.credit_code, asg.inspector_id, ins.name)
            .outerjoin(inspector, ins.inspector_id == asg.inspector_id)
            .where(asg.round_key == round_key)
            .order_by(asg.credit_code, asg.position)
        ):
            names[inspector_id] = name or inspector_id
            teams.setdefault(code, []).append(names[inspector_id])
        delivery: dict[str, Counter[str]] = {}
        for code, status, count in conn.execute(
            sa.select(about, note.status, sa.func.count())
            .where(note.round_key == round_key)
            .group_by(about, note.status)
        ):
            delivery.setdefault(code or "", Counter())[str(status)] += count
        records = {r.credit_code: r for r in load_results(conn, [round_key])}
    late = {
        i.credit_code for i in overdue_report(engine, round_keys=[round_key]) if i.status == "late"
    }
    strata: dict[str, list[int]] = {}
    rows = []
    for code, kind, stratum, _rank, name in selections:
        strata.setdefault(stratum, [0, 0])[kind == "targeted"] += 1
        stage, state, result = _state(records.get(code), names)
        sent = delivery.get(code, Counter())
        rows.append(
            EnterpriseRow(
                code,
                name or code,
                "定向" if kind == "targeted" else "随机",
                stratum,
                teams.get(code, []),
                "、".join(f"{DELIVERY.get(k, k)} {v}" for k, v in sorted(sent.items())) or "—",
                stage,
                state,
                result,
                code in late,
            )
        )
    drawn: Any = getattr(rnd, "drawn_at", None)
    return RoundView(
        round_key,
        title,
        ROUND_STATUS.get(str(rnd.status), str(rnd.status)),
        f"{rnd.window_start} 至 {rnd.window_end}",
        local_label(drawn, zone) if drawn else "",
        [(k, stratum_division(k, rnd.window_start), v[0], v[1]) for k, v in sorted(strata.items())],
        rows,
        delivery.get("", Counter())["dead"],
        awaits_witnesses(rnd),
        rnd.reason if rnd.kind == RoundKind.adhoc else "",
        failure_said(rnd.last_error or "") if rnd.status is RoundStatus.failed else "",
        (rnd.last_error or "") if rnd.status is RoundStatus.failed else "",
        rnd.status is RoundStatus.failed and starts_again(rnd.last_error or ""),
        beacon_wait(rnd, zone, entropy.scheduled_retry(engine, round_key)),
    )


def beacon_wait(rnd: Round, zone: str, retry: entropy.BeaconRetryScheduled | None = None) -> str:
    """What a committed round waits for when it names a beacon round: before its time, that
    nothing is to be done; after it, that the draw did not come (the beacon server down), and
    when the flow tries again (``retry``, the last scheduled) and what to check."""
    due = entropy.beacon_due(rnd.entropy_plan)
    if rnd.status is not RoundStatus.committed or due is None:
        return ""
    named = "、".join(str(s["round"]) for s in rnd.entropy_plan["sources"]
                     if s.get("source") == "beacon")  # fmt: skip
    if entropy.now() < due:
        return (f"等待 drand 公共随机信标第 {named} 轮，预计 {local_label(due, zone)} 产生；"
                "到时抽查流程自动摇号，无需操作")  # fmt: skip
    late = f"drand 公共随机信标第 {named} 轮应已于 {local_label(due, zone)} 产生，本轮尚未摇号："
    if retry is not None and entropy.now() < (at := dt.datetime.fromisoformat(retry.at)):
        url = "、".join(sorted({str(s["url"]) for s in rnd.entropy_plan["sources"]
                                if s.get("source") == "beacon"}))  # fmt: skip
        return (f"{late}信标未能给出该轮，抽查流程将于 {local_label(at, zone)} 自动再试"
                f"（{retry.run}）；请确认信标服务可以访问：检查信标地址设置 SHUANGSUI_BEACON_URL"
                f"（本轮指定 {url}）和本机到该地址的网络")  # fmt: skip
    return f"{late}请确认信标服务可以访问，再运行一次抽查流程"
