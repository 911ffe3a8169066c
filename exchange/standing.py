"""How the federation stands, for ``partners status`` and the coordinator's workspace:
who cosigned our latest checkpoint, how far we witnessed each partner, every equivocation
proof we hold (with the evidence), and the entries of each partner kept unread."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from exchange import equivocation
from exchange.apply import kept_unread
from exchange.models import EquivocationProof, ExchangeCheckpoint, ExchangeCosignature


@dataclass(frozen=True)
class Equivocation:
    origin: str
    size: int
    summary: str
    found_by: str
    received_from: str | None
    checkpoints: list[str]
    proof: dict[str, Any]
    text: str  # the proof's canonical JSON, as stored and served


@dataclass(frozen=True)
class Standing:
    our_size: int | None  # our latest checkpoint's size (None: never signed one)
    our_cosigners: list[str]  # witnesses that cosigned that tree head
    witnessed: dict[str, int] = field(default_factory=dict)  # origin -> largest size we cosigned
    equivocations: list[Equivocation] = field(default_factory=list)
    # partner code -> {kind: entries of a kind this shuangsui does not know, kept unread}
    unread: dict[str, dict[str, int]] = field(default_factory=dict)

    def equivocations_of(self, origin: str) -> list[Equivocation]:
        return [e for e in self.equivocations if e.origin == origin]


def standing(engine: Engine, me: str) -> Standing:
    c = ExchangeCosignature
    with Session(engine) as session:
        last = session.execute(
            select(col(ExchangeCheckpoint.size), col(ExchangeCheckpoint.root))
            .order_by(col(ExchangeCheckpoint.id).desc())
            .limit(1)
        ).first()
        cosigners: list[str] = []
        if last is not None:
            cosigners = sorted(set(session.execute(
                select(col(c.witness)).where(col(c.origin) == me, col(c.size) == last[0],
                                             col(c.root) == last[1])
            ).scalars()))  # fmt: skip
        witnessed = dict(
            session.execute(  # type: ignore[arg-type]
                select(col(c.origin), func.max(col(c.size)))
                .where(col(c.witness) == me)
                .group_by(col(c.origin))
            ).all()
        )
        rows = (
            session.exec(  # type: ignore[call-overload]
                select(EquivocationProof).order_by(col(EquivocationProof.id))
            )
            .scalars()
            .all()
        )
        unread = kept_unread(session)
    found = []
    for r in rows:
        proof = json.loads(r.proof)
        st = proof["statement"]
        found.append(Equivocation(
            r.origin, r.size, equivocation.summary(proof), r.found_by, r.received_from,
            list(st["checkpoints"]), proof, r.proof,
        ))  # fmt: skip
    return Standing(last[0] if last else None, cosigners, witnessed, found, unread)
