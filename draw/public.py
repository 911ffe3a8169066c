"""The public view of the inspector side of a draw (docs/draw-algorithm.md §12).

The public may check every team, workload and recusal without learning who the inspectors
are. Each inspector appears under a pseudonym, with only what the team rules of §9 need:

* ``available``: no enterprise-independent rule (inactive, credential, leave) eliminates it
  in the window; the leave dates and credential dates themselves stay with the bureau;
* ``expertise``: its cert kinds, only when the plan requires expertise (else empty);
* ``division_code``: only when the plan recuses inspectors from their own division (else "");
* ``recused`` pairs (pseudonym, credit_code): declared conflicts and, when the plan uses them,
  recent teams, merged, so the public does not learn which of the two a recusal is.

Version 2 rounds name the pseudonyms by a keyed hash (a fresh secret key per round, kept by
the bureau and given to auditors), draw the teams on the pseudonymous frame and bind its
commitments into the seed. Version 1 rounds drew teams by inspector id; their public view
numbers the inspectors in id order ("000001", ...) and is not bound to the seed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .canonical import lp, lp_fields
from .errors import FrameError
from .frame import InspectorUnit, frame_commitment

__all__ = [
    "PublicInspector",
    "PublicView",
    "encode_public_inspector",
    "public_view",
    "pseudonym",
    "recused_commitment",
]

PSEUDONYM_HEX = 16  # 64 bits: a collision among 10^4 inspectors has odds ~ 3 * 10^-12


@dataclass(frozen=True, slots=True)
class PublicInspector:
    pseudonym: str
    division_code: str  # "" unless the plan recuses same-division inspectors
    available: bool
    expertise: tuple[str, ...]  # () unless the plan requires expertise

    def to_json(self) -> dict[str, Any]:
        return {
            "pseudonym": self.pseudonym,
            "division_code": self.division_code,
            "available": self.available,
            "expertise": list(self.expertise),
        }


@dataclass(frozen=True)
class PublicView:
    pseudonyms: dict[str, str]  # inspector_id -> pseudonym
    inspectors: list[PublicInspector]  # sorted by pseudonym
    recused: list[tuple[str, str]]  # sorted (pseudonym, credit_code)

    @property
    def commitment(self) -> str:
        return frame_commitment([encode_public_inspector(u) for u in self.inspectors])

    @property
    def recused_commitment(self) -> str:
        return recused_commitment(self.recused)


def pseudonym(key: bytes, round_key: str, inspector_id: str) -> str:
    """hex(HMAC-SHA256(key, lp(round_key) || lp(inspector_id)))[:16]."""
    mac = hmac.new(key, lp(round_key) + lp(inspector_id), hashlib.sha256)
    return mac.hexdigest()[:PSEUDONYM_HEX]


def encode_public_inspector(u: PublicInspector) -> bytes:
    """Row bytes: lp fields pseudonym, division_code, available ("1"/"0"), count + expertise."""
    return lp_fields(
        [u.pseudonym, u.division_code, "1" if u.available else "0", str(len(u.expertise)),
         *u.expertise]
    )  # fmt: skip


def recused_commitment(pairs: Iterable[tuple[str, str]]) -> str:
    """SHA-256 of lp("recused") || lp(count) || lp(pseudonym) || lp(credit_code) ..., sorted."""
    items = sorted(set(pairs))
    h = hashlib.sha256(lp_fields(["recused", str(len(items))]))
    for a, b in items:
        h.update(lp_fields([a, b]))
    return h.hexdigest()


def _available(u: InspectorUnit, start: str, end: str) -> bool:
    """None of §9 rules 1-3 (inactive, credential, leave) applies in the window."""
    if not u.active:
        return False
    if (u.credential_from and u.credential_from > start) or (
        u.credential_until and u.credential_until < end
    ):
        return False
    return not any(s <= end and e >= start for s, e in u.leaves)


def public_view(
    *,
    version: int,
    round_key: str,
    plan: Mapping[str, Any],
    inspectors: Sequence[InspectorUnit],
    conflicts: Iterable[tuple[str, str]],
    recent: Iterable[tuple[str, str]],
    key: bytes = b"",
) -> PublicView:
    """The pseudonymous inspector frame and recusals of a round (see the module docstring)."""
    ordered = sorted(inspectors, key=lambda u: u.inspector_id)
    if version >= 2:
        if len(key) < 16:
            raise FrameError("a version 2 round needs a pseudonym key of at least 16 bytes")
        names = {u.inspector_id: pseudonym(key, round_key, u.inspector_id) for u in ordered}
        if len(set(names.values())) != len(names):
            raise FrameError("two inspectors share a pseudonym: draw a new pseudonym key")
    else:
        width = max(6, len(str(len(ordered))))  # fixed width: pseudonym order = id order
        names = {u.inspector_id: str(n).zfill(width) for n, u in enumerate(ordered, 1)}
    rules, window = plan["teams"], plan["window"]
    rows = sorted(
        (
            PublicInspector(
                names[u.inspector_id],
                u.division_code if rules["recuse_same_division"] else "",
                _available(u, window["start"], window["end"]),
                u.expertise if rules["expertise_required"] else (),
            )
            for u in ordered
        ),
        key=lambda r: r.pseudonym,
    )
    pairs = set(conflicts) | (set(recent) if rules["recuse_recent_rounds"] > 0 else set())
    recused = sorted({(names[i], code) for i, code in pairs if i in names})
    return PublicView(names, rows, recused)
