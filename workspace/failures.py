"""A failed round's recorded reason, as its coordinator's page says it.

A round fails at its draw (``rounds.service``), often in the background after the coordinator
has started it from the ad hoc page, and the reason is recorded in English: it is what the
round's bundle carries and what ``verify.py`` recomputes (``rounds.bundle``), so it stays as
it is. The page says it in Chinese, and what to do next: a round key has exactly one draw, so
a failed round is not drawn again; the coordinator starts another round once the cause is
dealt with. The recorded words are shown as well, for whoever keeps the plans and the
registry.
"""

from __future__ import annotations

import re

# draw.teams.RULES, as a coordinator says them
RULES = {
    "inactive": "不在岗",
    "credential": "执法证件在检查期间内并非全程有效",
    "leave": "检查期间休假",
    "expertise": "不具备该企业所涉证书种类的专业",
    "conflict": "已申报利益冲突，应当回避",
    "same-division": "企业在检查人员本人所在行政区划内，应当回避",
    "recent": "近几轮已检查过该企业",
    "workload": "已达工作量上限",
}
# draw.teams._infeasible
INFEASIBLE = re.compile(
    r"^(?:round \S+: )?(?P<code>\S+): needs (?P<size>\d+) inspectors, (?P<eligible>\d+) eligible "
    r"\((?P<parts>.*)\); rule eliminating the most: '(?P<rule>[a-z-]+)'"
)
AGAIN = "本轮次不会重新摇号（每个轮次只摇号一次，失败也留有核验材料）；处理后请重新发起临时抽查。"
# core.draw: the frames or the plan read at the draw are not those committed to
TAMPERED = "differ from the commitments"


def starts_again(recorded: str) -> bool:
    """Whether the page offers to start another round after this failure: not when the data
    changed after the commitment, which is reported and looked into first."""
    return TAMPERED not in recorded


def failure_said(recorded: str) -> str:
    """What the round page says of a failed round whose recorded reason is ``recorded``."""
    if m := INFEASIBLE.match(recorded):
        short = f"企业 {m['code']} 需要 {m['size']} 名检查人员，符合条件的只有 {m['eligible']} 名"
        if m["parts"] == "no inspectors in the frame":  # no rule set anyone aside
            why = "：执法人员名录中的人数少于检查组人数"
        else:
            why = f"；排除人数最多的条件是“{RULES.get(m['rule'], m['rule'])}”"
        return f"{short}{why}。请调整计划（检查组人数、工作量上限）或核对执法人员名录库。{AGAIN}"
    if not starts_again(recorded):
        return (
            "摇号时的名录或计划与提交时记录的承诺值不一致：数据在提交后被改动过。"
            "请立即报告系统管理员并保留现场，不要重新发起。"
        )
    return f"计划或名录库中有摇号时不能接受的内容，请联系系统管理员。{AGAIN}"
