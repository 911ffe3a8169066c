"""Why an enterprise is in its class, in Chinese, as the coordinator's page says it: the
explanation of ``risk.explain`` (its score lines, ``risk.verify_classes.score``) put in words
a coordinator reads without the rules' keys. Plain functions over plain data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from findings.categories import RESULT_LABELS, ResultCategory

# the national scheme's words for the four classes (分类监管)
CLASS_WORDS = {"A": "信用风险低", "B": "信用风险一般", "C": "信用风险较高", "D": "信用风险高"}
SECTIONS = {
    "findings": "本局检查结果",
    "partner_results": "协作机关公布的检查结果",
    "lists": "名单",
    "certificates": "认证证书",
    "complaints": "投诉举报",
    "clean_check": "未发现问题的检查",
    "floor": "名单规定的最低类别",
}
LISTS = {"abnormal_listed": "列入经营异常名录", "serious_violation": "列入严重违法失信名单"}
CERTIFICATES = {"suspended": "被暂停的认证证书", "withdrawn": "被撤销的认证证书"}
SOURCES = {
    "classification": "按规则计算的分类",
    "override": "经批准的人工调整",
    "registry": "名录库登记的类别（尚未分类）",
}


@dataclass(frozen=True)
class Line:
    section: str  # its Chinese heading
    said: str  # what counted, in words
    points: int


def class_said(cls: str) -> str:
    """``D 类（信用风险高）``."""
    return f"{cls} 类（{CLASS_WORDS.get(cls, '')}）" if cls in CLASS_WORDS else f"{cls} 类"


def _category(value: str) -> str:
    try:
        return RESULT_LABELS[ResultCategory(value)]
    except ValueError:
        return value  # a category the vocabulary does not know: as recorded


def _age(as_of: dt.date, day: str) -> str:
    """How long before the classification date ``day`` was, in days."""
    try:
        days = (as_of - dt.date.fromisoformat(day)).days
    except ValueError:
        return day
    if days < 0:
        return f"{day}，晚于分类基准日，不计分"
    return f"{day}，分类基准日前 {days} 天"


def line(section: str, detail: str, points: int, as_of: dt.date) -> Line:
    """One score line (``[section, detail, points]`` of ``score``) in words."""
    heading = SECTIONS.get(section, section)
    words = detail.split(" ")
    if detail.startswith("cap "):
        cap = detail.removeprefix("cap ")
        said = f"本项合计超过上限 {cap} 分，按 {cap} 分计"
    elif section == "findings" and len(words) == 2:
        said = f"{_category(words[0])}（检查日期 {_age(as_of, words[1])}）"
    elif section == "partner_results" and len(words) == 3:
        said = f"{words[0]}：{_category(words[1])}（{_age(as_of, words[2])}）"
    elif section == "lists":
        said = LISTS.get(detail, detail)
    elif section == "certificates" and len(words) == 2 and words[0] in CERTIFICATES:
        said = f"{CERTIFICATES[words[0]]} {words[1].removeprefix('x')} 张"
    elif section == "complaints":
        said = f"核实属实的投诉 {detail.removeprefix('upheld x')} 件"
    elif section == "clean_check":
        said = (
            "从未有过未发现问题的检查"
            if detail == "never"
            else f"最近一次未发现问题的检查：{_age(as_of, detail)}"
        )
    elif section == "floor":
        floor = detail.removeprefix("min_class ")
        said = f"因列入上述名单，不论分数，类别至少为 {class_said(floor)}"
    else:
        said = detail
    return Line(heading, said, points)


def lines(classification: dict[str, Any]) -> list[Line]:
    """The classification's points (``explain``'s ``points``) in words."""
    as_of = dt.date.fromisoformat(str(classification["as_of"])[:10])
    return [line(p["section"], p["detail"], p["points"], as_of) for p in classification["points"]]


def bounds_said(bounds: dict[str, int]) -> str:
    """``不足 10 分为 A 类；10 分起为 B 类，30 分起为 C 类，60 分起为 D 类``."""
    ordered = sorted(bounds.items(), key=lambda kv: kv[1])
    steps = "，".join(f"{v} 分起为 {k} 类" for k, v in ordered)
    return f"不足 {ordered[0][1]} 分为 A 类；{steps}" if ordered else ""


def by_score(score: int, bounds: dict[str, int]) -> str:
    """The class the score alone gives (before any list's floor)."""
    cls = "A"
    for name, bound in sorted(bounds.items(), key=lambda kv: kv[1]):
        if score >= bound:
            cls = name
    return cls


def when(value: str | None, zone: str) -> str:
    """An ISO instant of the explanation as the bureau's clock shows it (``2026-12-05 22:30``)."""
    if not value:
        return "—"
    instant = dt.datetime.fromisoformat(value)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.UTC)
    return instant.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
