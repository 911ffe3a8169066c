"""A participant sending reveal after reveal that does not open its commitment (each signed
with its key, each another nonce): every one was kept as its own row, a line of ``joint
status`` and an entry of the bundle, without limit. The first three are kept as evidence (one
already proves it); later ones are refused, saying they are not kept. Three bureaus served on
loopback, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from joint import client, service
from joint.store import BAD_REVEALS_KEPT
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, SH, Trio

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)


def test_refused_reveals_are_kept_up_to_a_few(trio: Trio) -> None:
    joint = "jt-bad-reveals"
    trio.commit(joint)
    engine, sh = trio.b[FJ].engine, trio.me[SH]
    said = []
    for n in range(BAD_REVEALS_KEPT + 2):
        forged = trio.statement(SH, joint, nonce=f"{n:02x}" * 32)
        with pytest.raises(Exception) as refused:  # the partner's answer: the refusal's words
            client.post_statement(sh.partners[FJ], sh.key, joint, forged)
        said.append(str(refused.value))
    kept = [r for r in service.held(engine, joint, ("bad-reveal",)) if r.bureau == SH]
    assert len(kept) == BAD_REVEALS_KEPT
    assert all("refused and kept as evidence" in s for s in said[:BAD_REVEALS_KEPT]), said
    later = said[BAD_REVEALS_KEPT:]
    assert all(f"refused, not kept ({BAD_REVEALS_KEPT} of its" in s for s in later), said
