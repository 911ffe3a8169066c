"""The rerun of a joint round failed as equivocation (three bureaus served on loopback, SQLite
and PostgreSQL). The last bureau to reveal holds every other nonce: it knows the draw before
anyone else. Withholding its reveal then costs it its place in the rerun (rule
``withheld-fails``); but signing a second commitment instead failed the round as
``equivocation`` and ``joint commit`` took a rerun (``replaces:``) with that bureau in it, so
it could veto every draw it did not like, round after round, until one suited it. Now a rerun
naming a bureau recorded as equivocating there is refused as one naming a withholder is."""

from __future__ import annotations

import pytest

from joint import client, service
from joint.protocol import nonce_commitment
from shuangsui.errors import UserError
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, SH, ZJ, Trio
from tests.joint.world import joint_yaml

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)


def test_a_bureau_that_signed_two_commitments_is_not_in_the_rerun(trio: Trio) -> None:
    joint = "jt-veto"
    trio.commit(joint)
    for code in (FJ, SH):
        trio.reveal(code, joint)
    engine = trio.b[FJ].engine
    # Zhejiang, every other nonce in hand, signs another commitment rather than revealing
    payload = next(r.payload for r in service.held(engine, joint, ("commit",)) if r.bureau == ZJ)
    second = trio.statement(ZJ, joint, nonce_commitment=nonce_commitment(joint, ZJ, "33" * 32))
    client.post_statement(trio.me[ZJ].partners[FJ], trio.me[ZJ].key, joint, second, payload)
    row = service.draw(engine, trio.me[FJ], joint)
    assert row.outcome == {"failure": {"reason": "equivocation", "bureaus": [ZJ]}}
    rerun = joint_yaml("jt-veto-2") + f"replaces: {joint}\n"
    with pytest.raises(UserError) as refused:
        service.commit(engine, trio.me[FJ], rerun)
    assert str(refused.value) == (
        f"participants: {ZJ} signed two commitments in {joint} and may not take part in the "
        "round replacing it"
    )
    assert service.held(engine, "jt-veto-2", ("commit",)) == []
