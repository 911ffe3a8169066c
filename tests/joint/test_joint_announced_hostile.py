"""A commitment sent without its frames (what a lead too large to POST sends, so that a partner
holds it in time) where it must not be taken: for a round the receiver has not committed to,
as a bureau's second commitment, or relayed by another participant's pull. Three bureaus'
real APIs on loopback, SQLite and PostgreSQL. Each is refused saying why and nothing of it is
held; the round is decided as if it had not been sent."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlmodel import Session, select

from joint import client, service
from joint.models import JointStatement
from joint.protocol import sign_statement, statement_hash
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, SH, ZJ, Trio

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)
JOINT = "jt-announced"


def _rows(trio: Trio, code: str) -> set[tuple[str, str, str]]:
    with Session(trio.b[code].engine) as s:
        return {(r.bureau, r.kind, r.digest) for r in s.exec(select(JointStatement))}


def test_a_commitment_without_its_frames_is_refused_where_it_must_not_be_taken(
    trio: Trio,
) -> None:
    trio.commit(JOINT)
    sh = trio.me[FJ].partners[SH]
    key = trio.b[FJ].key
    before = _rows(trio, SH)

    # a second commitment of the lead, without its frames: its veto kept in hand, unframed
    second = trio.statement(FJ, JOINT, nonce_commitment="0" * 64)
    with pytest.raises(client.Refused) as refused:
        client.post_statement(sh, key, JOINT, second, "")
    assert (refused.value.status, refused.value.detail) == (409, (
        f"joint round {JOINT}: a commitment of {FJ} is held here already; another is taken "
        "only with its frames (it is evidence of equivocation)"
    ))  # fmt: skip

    # for a round Shanghai has not committed to: it takes a commitment with its frames only
    other = "jt-not-here"
    again = sign_statement(second["statement"] | {"joint": other}, key.origin, key.private)
    with pytest.raises(client.Refused) as refused:
        client.post_statement(sh, key, other, again, "")
    assert (refused.value.status, refused.value.detail) == (409, (
        f"joint round {other}: this bureau has not committed to it yet; it takes the "
        f"commitment of {FJ} with its frames by the pull its `joint commit` makes"
    ))  # fmt: skip
    assert _rows(trio, SH) == before

    for code in (FJ, SH, ZJ):
        trio.reveal(code, JOINT)
    before = _rows(trio, SH)
    # relayed: Zhejiang's answer to a pull holds the lead's second commitment without frames
    with Session(trio.b[ZJ].engine) as s:
        digest, now = statement_hash(second["statement"]), dt.datetime.now(dt.UTC)
        bare = JointStatement(joint_key=JOINT, bureau=FJ, kind="commit", payload="",
                              digest=digest, envelope=json.dumps(second),
                              received_at=now)  # fmt: skip
        s.add(bare)
        s.commit()
    notes = service.pull(trio.b[SH].engine, trio.me[SH], JOINT)
    assert notes == [
        f"pull from {ZJ}: a statement not taken: commitment of {FJ}: its frames are needed (a "
        "commitment is taken without them only from its signer)"
    ], notes
    assert _rows(trio, SH) == before
    # (Zhejiang's own database, written here, holds a row no shuangsui stores: it serves only)
    rows = [service.draw(trio.b[c].engine, trio.me[c], JOINT) for c in (FJ, SH)]
    assert {(r.status, (r.outcome or {}).get("seed")) for r in rows} == {
        ("drawn", rows[0].outcome["seed"])  # type: ignore[index]
    }
