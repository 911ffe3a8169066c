"""The public record as plain data: only what the rules publish.

No inspector appears here (neither id nor contact data), nor any internal note or evidence:
the renderer can only show what these classes hold.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, is_dataclass
from typing import Any, NamedTuple

from rounds.entropy import unnamed_entropy


def _fields(obj: Any) -> Any:
    """JSON for what the encoder does not know: a dataclass as its fields, anything else as
    text (dates)."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return vars(obj)
    return str(obj)


class Correction(NamedTuple):
    version: int
    date: str  # the day the version became final (ISO)
    reason: str
    result: str
    result_label: str


class PublicResult(NamedTuple):
    """An enterprise on the site (a named tuple: twenty thousand of them are made per full
    publish, and read by name in the templates and the open-data encoders)."""

    round_key: str
    credit_code: str
    name: str
    division_code: str
    division_name: str
    stratum: str
    selection: str  # random | targeted
    check_item: str
    check_date: str  # "" while no final finding
    result: str  # "" while no final finding
    result_label: str
    measures: list[dict[str, Any]] = []
    certificates: list[dict[str, Any]] = []
    description: str = ""
    version: int = 0
    history: list[Correction] = []

    @property
    def measures_text(self) -> str:
        if not self.measures:  # most results: no generator made to join nothing
            return ""
        return "；".join(
            m["label"] + (f"（{m['deadline']}前）" if m.get("deadline") else "")
            for m in self.measures
        )

    @property
    def certificates_text(self) -> str:
        if not self.certificates:
            return ""
        return "；".join(f"{c['body']} {c['number']}：{c['label']}" for c in self.certificates)


class ResultsNotRead(list):  # type: ignore[type-arg]
    """The results of a round that a publish did not read again, its files and part being
    the previous publish's (website/parts.py): any use of them is an error, so no page can
    show such a round as having no results."""

    def _refuse(self, *args: object) -> Any:
        raise RuntimeError("this round's results were not read again: use its part")

    __iter__ = __len__ = __getitem__ = __contains__ = _refuse


@dataclass(frozen=True)
class PublicRound:
    round_key: str
    kind: str
    period: str
    status: str
    title: str
    check_item_code: str
    check_item_name: str
    legal_basis: list[str]
    plan_hash: str
    plan: dict[str, Any]
    window_start: str
    window_end: str
    frame_commitment: str
    frame_merkle_root: str
    frame_size: int
    inspector_commitment: str
    entropy: list[dict[str, Any]]
    seed: str
    counts: dict[str, dict[str, Any]]
    drawn_at: str
    results: list[PublicResult] = field(default_factory=list)
    commitment: dict[str, Any] = field(default_factory=dict)  # as published before the draw
    failure: str = ""  # why a failed round failed, in plain Chinese
    bundled: bool = False  # drawn, or failed with its entropy: it has a verification bundle
    disclosure: str = "on-draw"
    revealed: bool = True
    reveal_on: str = ""  # ISO date the drawn list becomes public
    commitment_first_published: str = ""  # Beijing label
    commitment_before_draw: bool = False  # this site published it first before the draw
    # commitment.json as this site first published it when it is not ``commitment`` (the
    # database's, which the draw used): the difference is shown loudly. None: the same
    published_commitment: dict[str, Any] | None = None
    # members replaced after the draw (docs/draw-algorithm.md §14), by cause; shown once revealed
    replaced: dict[str, int] = field(default_factory=dict)

    def digest(self) -> str:
        """What the round's pages are made of: unchanged digest, unchanged pages.

        Every field of the round and its results, encoded by the C JSON encoder straight from
        the dataclasses' own ``__dict__`` (``dataclasses.asdict`` deep-copied each of ~10^5
        results first and took most of an unchanged publish)."""
        body = json.dumps(
            self, default=_fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )
        return hashlib.sha256(body.encode("utf-8")).hexdigest()

    @property
    def drawn(self) -> bool:
        return self.status in ("drawn", "closed")

    @property
    def commitment_differs(self) -> bool:
        """The commitment this site first published is not the one the round holds (and,
        once drawn, was drawn with)."""
        return self.published_commitment is not None

    @property
    def entropy_unnamed(self) -> str:
        """What of the entropy the draw took the commitment (as this site first published it)
        did not name, in English for the log; "" when nothing (or when not drawn)."""
        if not self.entropy:
            return ""
        named = (self.published_commitment or self.commitment).get("entropy_sources") or []
        return unnamed_entropy(named, self.entropy)

    @property
    def published(self) -> int:
        return sum(1 for r in self.results if r.result)


@dataclass(frozen=True)
class Site:
    bureau_code: str
    bureau_name: str
    base_url: str
    rounds: list[PublicRound]
