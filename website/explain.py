"""The draw in plain Chinese: strata, rates, entropy records and causes as people read them.

Pure functions over the public model's plain data; the templates show what these return and
never a raw code (``350100/A``), a raw record (JSON) or a rate as the draw stores it (``1/10``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from registry.divisions import divisions, prefecture_of
from shuangsui.clock import local_label
from website.model import PublicResult

# 企业信用风险分类 (市场监管总局): the classes a plan's rates are set by
RISK_CLASSES = {"A": "信用风险低", "B": "信用风险一般", "C": "信用风险较高", "D": "信用风险高"}
ABNORMAL = "列入经营异常名录"
SERIOUS = "列入严重违法失信名单"


def division_name(code: str) -> str:
    """The GB/T 2260 name of a division code ('350100' -> '福州市'); the code if unknown."""
    table = divisions()
    return table.name(code) if table.is_known(code) else code


def class_label(risk: str) -> str:
    """'A' -> 'A类'; '*' (the rate for every other class) -> '其他类别'."""
    return "其他类别" if risk == "*" else f"{risk}类"


def stratum_label(stratum: str) -> str:
    """'350100/A' -> '福州市 · A类' (draw/frame.py stratum_of: division code, risk class)."""
    if stratum == "*":
        return "全部企业"
    parts = [
        division_name(p) if p.isdigit() and len(p) == 6 else class_label(p)
        for p in stratum.split("/")
    ]
    return " · ".join(parts)


def percent(rate: str) -> str:
    """A rate as people read it: '1/10' or '10%' -> '10%'; '1/3' -> '1/3（约 33.3%）'."""
    text = rate.strip()
    value = Fraction(text[:-1]) / 100 if text.endswith("%") else Fraction(text)
    whole = value * 100
    if whole.denominator == 1:
        return f"{whole.numerator}%"
    return f"{value}（约 {float(whole):.1f}%）"


@dataclass(frozen=True)
class StratumRow:
    label: str  # 福州市 · A类
    risk: str  # A
    rate: str  # 10%
    eligible: int
    quota: int
    targeted: int
    excluded: int
    drawn: int


def strata_rows(counts: Mapping[str, Mapping[str, Any]]) -> list[StratumRow]:
    """The per-stratum counts of a drawn round, in stratum order (division code, class)."""
    return [
        StratumRow(
            label=stratum_label(name),
            risk=name.split("/")[-1],
            rate=percent(str(c.get("rate", "0"))),
            eligible=int(c.get("eligible", 0)),
            quota=int(c.get("quota", c.get("drawn", 0))),
            targeted=int(c.get("targeted", 0)),
            excluded=int(c.get("excluded", 0)),
            drawn=int(c.get("drawn", 0)),
        )
        for name, c in sorted(counts.items())
    ]


def rate_rows(rates: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(class, what the class means, rate) for the plan's rates, A类 first."""
    return [
        (class_label(k), RISK_CLASSES.get(k, ""), percent(v))
        for k, v in sorted(rates.items(), key=lambda kv: (kv[0] == "*", kv[0]))
    ]


def _when(moment: str) -> str:
    try:
        return local_label(dt.datetime.fromisoformat(moment.replace("Z", "+00:00")))
    except ValueError:
        return moment


def entropy_rows(records: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(source, what it gave) for each entropy record, in the order they went into the seed."""
    rows = []
    for rec in records:
        source = rec.get("source")
        if source == "witness-digits":
            names = "、".join(rec.get("witnesses", [])) or "（未记录）"
            rows.append(("见证人当场产生的随机数字", f"见证人：{names}；数字：{rec.get('digits')}"))
        elif source == "beacon":
            rows.append(
                (
                    "drand 公共随机信标",
                    f"第 {rec.get('round')} 轮，随机值 {rec.get('randomness')}"
                    f"（来自 {rec.get('url')}，可在该网站查到同一轮的同一数值）",
                )
            )
        elif source == "commit-reveal":
            rows.append(
                (
                    "事先承诺、事后公开的秘密",
                    f"事先公布的承诺值 {rec.get('commitment')}，抽取时公开的秘密 "
                    f"{rec.get('secret')}（任何人可核对二者相符）",
                )
            )
        elif source == "partner-checkpoints":
            partners = "、".join(str(c.get("partner", "")) for c in rec.get("checkpoints", []))
            rows.append(
                (
                    "合作单位的日志检查点",
                    f"{partners} 在承诺之后（{_when(str(rec.get('after', '')))}）"
                    "签发的日志检查点，各自带有可核验的签名。合作单位每隔几分钟签发新的检查点，"
                    "抽取机关可以借选择抽取时刻在其中挑选，因此本系统已不再以此作为新一轮的随机来源",
                )
            )
        else:
            rows.append((str(source), "见验证包中的 entropy.json"))
    return rows


def witnesses(records: Sequence[Mapping[str, Any]]) -> list[str]:
    return [
        w for r in records if r.get("source") == "witness-digits" for w in r.get("witnesses", [])
    ]


def targeted_rules(plan: Mapping[str, Any]) -> list[str]:
    """What the plan says is checked for cause (定向), without naming any enterprise."""
    targeted = plan.get("targeted") or {}
    rules = []
    if targeted.get("include_abnormal_listed"):
        rules.append(f"{ABNORMAL}的企业")
    if targeted.get("include_serious_violation"):
        rules.append(f"{SERIOUS}的企业")
    causes = Counter(t["reason"] for t in targeted.get("list", []))
    rules += [f"因{reason}列明的企业 {n} 户" for reason, n in sorted(causes.items())]
    return rules


def targeted_causes(plan: Mapping[str, Any], results: Iterable[PublicResult]) -> dict[str, str]:
    """credit code -> the kind of cause, for each enterprise on the page checked for cause."""
    targeted = plan.get("targeted") or {}
    listed = {t["credit_code"]: t["reason"] for t in targeted.get("list", [])}
    flags = [
        label
        for key, label in (
            ("include_abnormal_listed", ABNORMAL),
            ("include_serious_violation", SERIOUS),
        )
        if targeted.get(key)
    ]
    general = "或".join(flags) or "计划列明的原因"
    return {
        r.credit_code: listed.get(r.credit_code, general)
        for r in results
        if r.selection == "targeted"
    }


@dataclass(frozen=True)
class DivisionGroup:
    code: str  # the prefecture's code
    name: str
    total: int
    counties: list[tuple[str, str, int]]  # (code, name, count) in code order


def by_prefecture(codes: Iterable[str]) -> list[DivisionGroup]:
    """Counts per county, grouped by prefecture, both in GB/T 2260 code order."""
    counts = Counter(codes)
    groups: dict[str, list[tuple[str, str, int]]] = {}
    for code in sorted(counts):
        top = prefecture_of(code) if code.isdigit() and len(code) == 6 else "未知"
        groups.setdefault(top, []).append((code, division_name(code) or "未知", counts[code]))
    return [
        DivisionGroup(top, division_name(top), sum(n for *_, n in rows), rows)
        for top, rows in groups.items()
    ]
