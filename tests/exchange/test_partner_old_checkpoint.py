"""An older checkpoint of a partner served again (a replay of an answer it gave before: a
cache in the way, or anyone on the path of a plain-http feed, since an answer is not bound to
the signed request) was taken as the partner rewriting its history: `partner 310000 REWROTE
ITS HISTORY: the new checkpoint has 2 entries, fewer than the 3 it signed before`, status
`rewritten`, the partner flagged for good and the two checkpoints kept as evidence of a
fault it never made. A smaller checkpoint is no proof of a rewrite: the partner's consistency
proof from it to the one we hold says whether it is the same history. Now, when that proof
verifies, the sync fails saying an older checkpoint was served (nothing applied, nothing
flagged, no conflict kept) and the next sync goes on; when the partner cannot prove it (its
log shrank, or the old checkpoint is of another history), it is a rewritten history, flagged,
as before. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import Session, select

from exchange.directory import load_directory
from exchange.models import PartnerConflict, PartnerState
from exchange.sync import sync_partner
from tests.exchange import test_sync
from tests.exchange.bureaus import publish

pair = test_sync.pair  # Fujian here, Shanghai in process (the fixture)
CODES = [f"91310100MA{i:07d}X" for i in range(4)]


class Replaying(httpx.BaseTransport):
    """Shanghai's answers, its checkpoint as first served kept; with ``replay`` set, that old
    checkpoint is served instead of the current one, and with ``no_proof`` a consistency
    proof is answered 404, as by a log that no longer holds the entries."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner, self.first = inner, b""
        self.replay = self.no_proof = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.no_proof and request.url.path.endswith("/proof/consistency"):
            return httpx.Response(404, json={"detail": "no such proof"})
        resp = self.inner.handle_request(request)
        body = resp.read()
        if request.url.path.endswith("/checkpoint"):
            self.first = self.first or body
            body = self.first if self.replay else body
        headers = {k: v for k, v in resp.headers.items() if k not in ("content-length", "etag")}
        return httpx.Response(resp.status_code, headers=headers, content=body)


def _state(engine: sa.Engine) -> tuple[PartnerState, list[PartnerConflict]]:
    with Session(engine) as s:
        state = s.get(PartnerState, "310000")
        assert state is not None
        return state, list(s.exec(select(PartnerConflict)).all())


def test_an_older_checkpoint_served_again_is_not_a_rewrite(engine: sa.Engine, pair: Any) -> None:
    sh, inner = pair
    transport = Replaying(inner)
    partner = load_directory()["310000"]
    for i in range(2):
        publish(sh, CODES[i], n=i)
    assert sync_partner(engine, partner, transport=transport).after == 2
    publish(sh, CODES[2], n=2)
    assert sync_partner(engine, partner, transport=transport).after == 3
    transport.replay = True  # the checkpoint of 2 entries, as first served
    out = sync_partner(engine, partner, transport=transport)
    assert (out.status, out.before, out.after, out.applied) == ("failed", 3, 3, 0), out
    assert out.error is not None and "REWROTE" not in out.error, out.error
    assert out.error.startswith("partner 310000: served a checkpoint of 2 entries, older than "
                                "the one of 3 entries it signed before"), out.error  # fmt: skip
    state, conflicts = _state(engine)
    assert (state.status, state.flagged, state.size, conflicts) == ("failed", False, 3, [])
    transport.replay = False
    publish(sh, CODES[3], n=3)
    out = sync_partner(engine, partner, transport=transport)
    assert (out.status, out.before, out.after, out.applied) == ("ok", 3, 4, 1), out


def test_an_older_checkpoint_the_partner_cannot_prove_is_a_rewrite(
    engine: sa.Engine, pair: Any
) -> None:
    sh, inner = pair
    transport = Replaying(inner)
    partner = load_directory()["310000"]
    publish(sh, CODES[0], n=0)
    assert sync_partner(engine, partner, transport=transport).after == 1
    publish(sh, CODES[1], n=1)
    assert sync_partner(engine, partner, transport=transport).after == 2
    transport.replay = transport.no_proof = True
    out = sync_partner(engine, partner, transport=transport)
    assert out.status == "rewritten", out
    assert "REWROTE ITS HISTORY: the new checkpoint has 1 entries, fewer than the 2" in (
        out.error or ""
    ), out.error
    state, conflicts = _state(engine)
    assert state.flagged and len(conflicts) == 1
