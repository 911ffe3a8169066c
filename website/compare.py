"""Every committed value as this site first published it, beside the value the round was
drawn with.

A verification bundle agrees with itself whatever frame it holds: a frame rebuilt after the
entropy was seen gets a new commitment and a new seed, and verify.py still prints OK. Only the
comparison of every committed value with the commitment published before the draw shows it.
The round page makes that comparison from the two sources the site has: ``commitment.json``
as it first wrote it (never rewritten), and the round as drawn (the database's commitment,
which the bundle's ``round.json`` repeats: ``commitments``, ``v`` and ``meta.entropy_plan``).
Each row also says where a reader finds the bundle's value: the line of verify.py's output
that prints it, or the field of ``round.json`` that holds it. Pure functions over plain data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from rounds.entropy import unnamed_entropy
from rounds.notice import describe_source


class Compared(NamedTuple):
    label: str  # what is compared, in Chinese
    printed: str  # the line of verify.py's output showing the bundle's value ("" when none)
    field: str  # where the bundle's round.json holds it ("" when it does not)
    published: str  # as this site first published it (commitment.json)
    drawn: str  # as the round was drawn
    same: bool


# (key of "commitments", what it is, the line of verify.py's output that shows it), in the
# order commitment.json and the commitment page list them
COMMITTED = (
    ("plan_hash", "抽查计划的计划哈希", "plan hash ok (…)"),
    ("frame_size", "企业名录户数", "frame: … enterprises, …"),
    ("frame_commitment", "企业名录的承诺值", ""),
    ("frame_root", "企业名录的默克尔根", ""),
    ("inspector_size", "检查人员名录人数", ""),
    ("inspector_commitment", "检查人员名录的承诺值", "not shown (…): inspector frame …"),
    ("inspector_root", "检查人员名录的默克尔根", ""),
    ("constraints_commitment", "回避约束的承诺值", "not shown (…): …, constraints …"),
    ("public_inspector_size", "检查人员公开名录人数（化名）", "inspectors: … under pseudonyms, …"),
    ("public_inspector_commitment", "检查人员公开名录的承诺值（化名）", ""),
    ("public_recused_commitment", "公开回避关系的承诺值（化名）", ""),
)
LABELS = {key: label for key, label, _ in COMMITTED}
# the rest of commitment.json: covered by the plan hash (the plan holds them) or not in the
# bundle; a row only when they differ
OTHER = {
    "round_key": ("轮次", "round_key"),
    "committed_at": ("承诺时间", "meta.committed_at"),
    "kind": ("抽查类型", "meta.kind"),
}
MISSING = "（无）"


def _text(value: Any) -> str:
    """A committed value as the page shows it: numbers and hashes as they are, no JSON."""
    if isinstance(value, Mapping):
        return "；".join(f"{k} {_text(v)}" for k, v in sorted(value.items()))
    if isinstance(value, list):
        return "；".join(_text(v) for v in value)
    return MISSING if value is None else str(value)


def _source(spec: Any) -> str:
    if isinstance(spec, Mapping) and spec.get("source") in ("witness-digits", "beacon"):
        return describe_source(spec)
    return _text(spec)


def _record(rec: Mapping[str, Any]) -> str:
    """One entropy record the draw took, by what it is (its values are on the page above)."""
    source = rec.get("source")
    if source == "witness-digits":
        return f"见证人当场产生的随机数字（{len(str(rec.get('digits', '')))} 位）"
    if source == "beacon":
        return f"drand 公共随机信标第 {rec.get('round')} 轮（{rec.get('url', '')}）"
    if source == "partner-checkpoints":
        partners = "、".join(str(c.get("partner", "")) for c in rec.get("checkpoints") or [])
        return f"合作单位 {partners} 在 {rec.get('after', '')} 之后签发的日志检查点"
    if source == "commit-reveal":
        return f"事先承诺、事后公开的秘密（{rec.get('committed_in', '')}）"
    return str(source)


def _row(label: str, printed: str, field: str, published: Any, drawn: Any) -> Compared:
    return Compared(label, printed, field, _text(published), _text(drawn), published == drawn)


def compare(
    published: Mapping[str, Any],
    drawn: Mapping[str, Any],
    used: Sequence[Mapping[str, Any]] = (),
) -> list[Compared]:
    """Each committed value of ``published`` (commitment.json as first published) beside the
    same value of ``drawn`` (the round's commitment as drawn); a value only one of them has
    is compared with nothing and differs. ``used``, the entropy records the draw took
    (``entropy.json``), is compared with the sources ``published`` named: one record of each,
    in that order, and nothing more (:func:`rounds.entropy.unnamed_entropy`)."""
    mine, theirs = published.get("commitments") or {}, drawn.get("commitments") or {}
    rows = []
    for key, label, printed in COMMITTED:
        if key in mine or key in theirs:
            rows.append(_row(label, printed, f"commitments.{key}", mine.get(key), theirs.get(key)))
    for key in sorted((mine.keys() | theirs.keys()) - LABELS.keys()):
        rows.append(_row(key, "", f"commitments.{key}", mine.get(key), theirs.get(key)))
    sources = [published.get("entropy_sources") or [], drawn.get("entropy_sources") or []]
    rows.append(
        Compared(
            "随机数来源（依次）",
            "entropy record 0 (…) ok",
            "meta.entropy_plan.sources",
            "；".join(map(_source, sources[0])) or MISSING,
            "；".join(map(_source, sources[1])) or MISSING,
            sources[0] == sources[1],
        )
    )
    if used:
        rows.append(
            Compared(
                "抽取实际使用的随机数（验证包的 entropy.json，依次）",
                "entropy record 0 (…) ok",
                "",
                "；".join(map(_source, sources[0])) or MISSING,
                "；".join(map(_record, used)),
                not unnamed_entropy(sources[0], used),
            )
        )
    rows.append(
        _row(
            "抽取算法版本",
            "bundle: draw version …",
            "v",
            published.get("draw_version"),
            drawn.get("draw_version"),
        )
    )
    compared = {"commitments", "entropy_sources", "draw_version"}
    for key in sorted((published.keys() | drawn.keys()) - compared):
        if published.get(key) != drawn.get(key):
            label, field = OTHER.get(key, (f"承诺文件的 {key} 项", ""))
            rows.append(_row(label, "", field, published.get(key), drawn.get(key)))
    return rows
