"""The draw as one pure function: inputs (frames, plan, constraints, entropy) -> result.

The DB layer calls: build frames -> ``commitments(inputs)`` (record and publish them) ->
gather entropy -> ``draw(inputs, committed)``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from operator import attrgetter
from typing import Any, NamedTuple

import numpy as np

from .errors import FrameError, PlanError
from .frame import (
    STATUSES,
    EnterpriseFrame,
    EnterpriseUnit,
    InspectorUnit,
    constraints_commitment,
    encode_enterprises,
    encode_inspector,
    frame_digests,
    stratum_of,
)
from .plan import plan_hash
from .public import PublicView, public_view
from .seed import VERSIONS, derive_seed
from .select import (
    code_ticket_table,
    order_by_prefix,
    order_weighted,
    stratum_quota,
    stratum_rate,
    ticket,
    tickets,
    trim_to_cap,
)
from .teams import draw_teams

__all__ = [
    "Commitments",
    "DrawInputs",
    "DrawResult",
    "Selection",
    "StratumCount",
    "commitments",
    "draw",
    "select_at",
    "select_random",
]

log = logging.getLogger(__name__)
Pairs = frozenset[tuple[str, str]]


@dataclass(frozen=True)
class DrawInputs:
    round_key: str
    plan: Mapping[str, Any]  # canonical normalised plan (draw.plan.parse_plan / load_plan)
    enterprises: Sequence[EnterpriseUnit]
    inspectors: Sequence[InspectorUnit]
    entropy: Sequence[Mapping[str, Any]] = ()
    conflicts: Pairs = frozenset()  # (inspector_id, credit_code) declared conflicts
    recent_pairs: Pairs = frozenset()  # (inspector_id, credit_code) teams of the last N rounds
    version: int = 1  # the draw algorithm's version (docs/draw-algorithm.md, "v")
    pseudonym_key: bytes = b""  # version 2: the round's secret key for inspector pseudonyms


@dataclass(frozen=True)
class Commitments:
    plan_hash: str
    frame_commitment: str
    frame_root: str
    frame_size: int
    inspector_commitment: str
    inspector_root: str
    inspector_size: int
    constraints_commitment: str
    # version 2 only (docs/draw-algorithm.md §12): the public, pseudonymous inspector side
    public_inspector_commitment: str = ""
    public_inspector_size: int = 0
    public_recused_commitment: str = ""

    def to_json(self, version: int) -> dict[str, Any]:
        doc = asdict(self)
        if version < 2:
            for name in ("public_inspector_commitment", "public_inspector_size",
                         "public_recused_commitment"):  # fmt: skip
                del doc[name]
        return doc


class StratumCount(NamedTuple):
    stratum: str
    rate: str  # exact rate as 'p/q'
    eligible: int  # units with status random
    targeted: int
    excluded: int
    quota: int  # before the total cap
    drawn: int


class Selection(NamedTuple):
    credit_code: str
    stratum: str
    kind: str  # "random" | "targeted"
    ticket: str  # hex of SHA-256(seed || lp(credit_code))
    rank: int  # 1-based order within its stratum (random) or among targeted


@dataclass(frozen=True)
class DrawResult:
    round_key: str
    seed: str
    commitments: Commitments
    strata: tuple[StratumCount, ...]
    selected: tuple[Selection, ...]
    teams: dict[str, tuple[str, ...]] = field(default_factory=dict)
    workloads: dict[str, int] = field(default_factory=dict)
    version: int = 1

    def to_json(self) -> dict[str, Any]:
        """The JSON shape shared with the stdlib reference (verify_bundle.reference_draw)."""
        return {
            "round_key": self.round_key,
            "seed": self.seed,
            "commitments": self.commitments.to_json(self.version),
            "strata": [s._asdict() for s in self.strata],
            "selected": [s._asdict() for s in self.selected],
            "teams": {k: list(v) for k, v in self.teams.items()},
            "workloads": dict(self.workloads),
        }


def _sorted_frames(inputs: DrawInputs) -> tuple[EnterpriseFrame, list[InspectorUnit]]:
    ents = EnterpriseFrame.of(inputs.enterprises)  # sorted; a code twice is named
    insps = sorted(inputs.inspectors, key=attrgetter("inspector_id"))
    for x, y in pairwise(insps):
        if x.inspector_id == y.inspector_id:
            raise FrameError(f"inspector {x.inspector_id}: appears twice in the frame")
    # a frame's units share a few hundred rests: check those, and name the first unit at fault
    bad = {r for r, (division, risk, _, stratum, status, _) in enumerate(ents.rests)
           if not _unit_kind_ok(inputs.plan, division, risk, stratum, status)}  # fmt: skip
    if bad:
        first = next(i for i, r in enumerate(ents.rest_indices()) if r in bad)
        u = ents[first]
        if u.status not in STATUSES:
            raise FrameError(f"enterprise {u.credit_code}: unknown status {u.status!r}")
        raise FrameError(f"enterprise {u.credit_code}: stratum {u.stratum!r} != plan's")
    return ents, insps


def _unit_kind_ok(
    plan: Mapping[str, Any], division: str, risk: str, stratum: str, status: str
) -> bool:
    """A known status, and the stratum the plan gives the division and risk class."""
    return status in STATUSES and stratum == stratum_of(plan, division, risk)


def _view(inputs: DrawInputs, insps: Sequence[InspectorUnit]) -> PublicView:
    return public_view(
        version=inputs.version,
        round_key=inputs.round_key,
        plan=inputs.plan,
        inspectors=insps,
        conflicts=inputs.conflicts,
        recent=inputs.recent_pairs,
        key=inputs.pseudonym_key,
    )


def _commit(
    inputs: DrawInputs,
    ents: EnterpriseFrame,
    insps: list[InspectorUnit],
    view: PublicView | None = None,
) -> Commitments:
    erows = frame_digests(encode_enterprises(ents))
    irows = frame_digests(map(encode_inspector, insps))
    public_c, public_size, recused_c = "", 0, ""
    if inputs.version >= 2:
        view = view or _view(inputs, insps)
        public_c, public_size, recused_c = (
            view.commitment,
            len(view.inspectors),
            view.recused_commitment,
        )
    return Commitments(
        plan_hash=plan_hash(dict(inputs.plan)),
        frame_commitment=erows.commitment,
        frame_root=erows.root,
        frame_size=erows.size,
        inspector_commitment=irows.commitment,
        inspector_root=irows.root,
        inspector_size=irows.size,
        constraints_commitment=constraints_commitment(inputs.conflicts, inputs.recent_pairs),
        public_inspector_commitment=public_c,
        public_inspector_size=public_size,
        public_recused_commitment=recused_c,
    )


def commitments(inputs: DrawInputs) -> Commitments:
    """Everything the seed commits to except entropy: record and publish before entropy."""
    return _commit(inputs, *_sorted_frames(inputs))


def select_random(
    seed: bytes, plan: Mapping[str, Any], pool: Sequence[EnterpriseUnit], drawn: Mapping[str, int]
) -> list[Selection]:
    """The ``drawn[s]`` smallest tickets (or weighted keys) of each stratum s of ``pool``."""
    frame = EnterpriseFrame.of(pool, where="the pool")
    return select_at(seed, plan, frame, np.arange(len(frame)), drawn)


def select_at(
    seed: bytes, plan: Mapping[str, Any], frame: EnterpriseFrame, at: np.ndarray,
    drawn: Mapping[str, int],
) -> list[Selection]:  # fmt: skip
    """:func:`select_random` of the units of ``frame`` at positions ``at`` (ascending): the
    draw's random units read in place, not copied into a frame of their own first."""
    labels = sorted(drawn)
    index = {s: i for i, s in enumerate(labels)}
    ids = frame.credit_codes(at)
    rest_at = np.frombuffer(frame.rest_indices(), dtype=np.uint32)[at]
    weights = plan["strata"]["weights"]
    out: list[Selection] = []
    if weights is None:  # the first 8 bytes of each ticket sort them; whole ones where needed
        prefixes = code_ticket_table(seed, frame.code_bytes(at), width=8)
        prefix = np.frombuffer(prefixes, dtype=">u8")
        stratum_of_rest = np.array([index[rest[3]] for rest in frame.rests], dtype=np.int32)
        sidx = stratum_of_rest[rest_at]
        del rest_at

        def whole(i: int) -> bytes:
            return ticket(seed, ids[i])

        grouped = order_by_prefix(prefix, whole, ids, sidx)  # stratum by stratum, by ticket
        del prefix, prefixes
        starts = np.concatenate(([0], np.cumsum(np.bincount(sidx, minlength=len(labels)))))
        del sidx
        for s in labels:
            first = int(starts[index[s]])
            winners = grouped[first : first + drawn[s]].tolist()
            for rank, i in enumerate(winners, 1):
                out.append(Selection(ids[i], s, "random", whole(i).hex(), rank))
        return out
    table = code_ticket_table(seed, frame.code_bytes(at))
    members: dict[str, list[int]] = {s: [] for s in labels}
    for i, r in enumerate(rest_at.tolist()):
        members[frame.rests[r][3]].append(i)
    for s in labels:
        m = members[s]
        w = [weights.get(frame.rests[rest_at[i]][1], weights.get("*")) for i in m]
        if None in w:
            raise PlanError(f"strata.weights: no weight for a risk class in stratum {s}")
        sub = b"".join(table[32 * i : 32 * i + 32] for i in m)
        order_w = order_weighted(sub, [ids[i] for i in m], w)
        for rank, j in enumerate(order_w[: drawn[s]], 1):
            i = m[j]
            out.append(Selection(ids[i], s, "random", table[32 * i : 32 * i + 32].hex(), rank))
    return out


def draw(
    inputs: DrawInputs, committed: Commitments | None = None, *, recheck: bool = True
) -> DrawResult:
    """The whole draw. ``committed``: the commitments recorded earlier, checked if given.

    ``recheck=False`` takes ``committed`` as they are, for a caller that computed them from
    these very inputs moments ago (the commitment step); verification always recomputes.
    """
    plan = inputs.plan
    if inputs.version not in VERSIONS:
        raise PlanError(f"round {inputs.round_key}: unknown draw version {inputs.version!r}")
    view = None
    if committed is not None and not recheck:
        # the very frames the commitments were computed from: already sorted and checked
        ents, insps = EnterpriseFrame.of(inputs.enterprises), list(inputs.inspectors)
        com = committed
    else:
        ents, insps = _sorted_frames(inputs)
        view = _view(inputs, insps) if inputs.version >= 2 else None
        com = _commit(inputs, ents, insps, view)
    if committed is not None and committed != com:
        raise FrameError("the frames or plan differ from the commitments recorded before entropy")
    seed = derive_seed(
        round_key=inputs.round_key,
        plan_hash=com.plan_hash,
        frame_commitment=com.frame_commitment,
        inspector_commitment=com.inspector_commitment,
        constraints_commitment=com.constraints_commitment,
        entropy=[dict(r) for r in inputs.entropy],
        version=inputs.version,
        public_inspector_commitment=com.public_inspector_commitment,
        public_recused_commitment=com.public_recused_commitment,
    )
    units_of_rest = ents.rest_counts()
    labels = sorted({ents.rests[r][3] for r in units_of_rest})
    tally = {s: dict.fromkeys(("random", "targeted", "excluded"), 0) for s in labels}
    for r, n in units_of_rest.items():
        _, _, _, stratum, status, _ = ents.rests[r]
        tally[stratum][status] += n
    strata = plan["strata"]
    quotas = {
        s: stratum_quota(stratum_rate(plan, s), tally[s]["random"], strata["min_per_stratum"])
        for s in labels
    }
    drawn = trim_to_cap(quotas, strata["total_cap"])
    selected = select_at(seed, plan, ents, ents.positions("random"), drawn)
    targeted = list(ents.having("targeted"))
    t_digests = tickets(seed, [u.credit_code for u in targeted])
    t_order = sorted(range(len(targeted)), key=lambda i: (t_digests[i], targeted[i].credit_code))
    selected_t = [
        Selection(targeted[i].credit_code, targeted[i].stratum, "targeted", t_digests[i].hex(), r)
        for r, i in enumerate(t_order, 1)
    ]
    all_selected = selected_t + selected
    processing = sorted(all_selected, key=lambda s: (s.ticket, s.credit_code))
    codes = [s.credit_code for s in processing]
    order = [ents[i] for i in ents.find(codes)]  # each was drawn from the frame: all found
    if inputs.version >= 2:
        teams, workloads = _pseudonymous_teams(seed, inputs, order, insps, view)
    else:
        teams, workloads = draw_teams(
            seed, plan, order, insps, inputs.conflicts, inputs.recent_pairs
        )
    counts = tuple(
        StratumCount(
            s,
            str(stratum_rate(plan, s)),
            tally[s]["random"],
            tally[s]["targeted"],
            tally[s]["excluded"],
            quotas[s],
            drawn[s],
        )
        for s in labels
    )
    log.info(
        "round %s drawn: %d random, %d targeted", inputs.round_key, len(selected), len(targeted)
    )
    return DrawResult(
        inputs.round_key,
        seed.hex(),
        com,
        counts,
        tuple(all_selected),
        teams,
        workloads,
        inputs.version,
    )


def _pseudonymous_teams(
    seed: bytes,
    inputs: DrawInputs,
    order: list[EnterpriseUnit],
    insps: list[InspectorUnit],
    view: PublicView | None,
) -> tuple[dict[str, tuple[str, ...]], dict[str, int]]:
    """Version 2 (§12): §9 run with every inspector renamed to its pseudonym, so each level
    is sorted by pseudonym and the public can redo every pick; teams come back as ids.

    The full units keep their rules (a shortfall still names leave, credential ...); on the
    public side the same eligibility is expressed by ``available`` and the recused pairs."""
    view = view or _view(inputs, insps)
    names = view.pseudonyms
    back = {p: i for i, p in names.items()}
    renamed = [dataclasses.replace(u, inspector_id=names[u.inspector_id]) for u in insps]

    def rename(pairs: Pairs) -> Pairs:
        return frozenset((names[i], code) for i, code in pairs if i in names)

    teams, loads = draw_teams(
        seed, inputs.plan, order, renamed, rename(inputs.conflicts), rename(inputs.recent_pairs)
    )
    return (
        {code: tuple(back[p] for p in team) for code, team in teams.items()},
        {back[p]: n for p, n in loads.items()},
    )
