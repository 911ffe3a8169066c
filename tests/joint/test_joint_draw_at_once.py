"""Two ``joint draw`` at one bureau at once (two operators, or a flow and an operator). Each
read the round undecided and decided from what its own pull held; Zhejiang's reveal arriving
between the two pulls made the first "failed" (withheld, its clock past the deadline) and the
second "drawn", and the first, recorded last, replaced the draw: Fujian's round said failed
after its inspectors had been sent their notices. The first decision recorded now stands, the
other run returns it (three bureaus served on loopback; the order forced; SQLite and
PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest

from joint import service
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, SH, ZJ, Trio
from tests.races import held_while

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)
LATE = dt.timedelta(hours=1)  # past both deadlines of joint_yaml


def test_the_first_decision_recorded_stands(trio: Trio, monkeypatch: pytest.MonkeyPatch) -> None:
    joint = "jt-at-once"
    trio.commit(joint)
    for code in (FJ, SH):
        trio.reveal(code, joint)
    engine, late = trio.b[FJ].engine, dt.datetime.now(dt.UTC) + LATE

    def drawn_meanwhile() -> None:  # Zhejiang reveals (pushed to Fujian), another run draws
        trio.reveal(ZJ, joint)
        assert service.draw(engine, trio.me[FJ], joint).status == "drawn"

    # the first run, past the deadline without Zhejiang's reveal, held as it records "failed"
    first = held_while(monkeypatch, (service, "_decided"),
                       lambda: service.draw(engine, trio.me[FJ], joint, now=late),
                       meanwhile=drawn_meanwhile)  # fmt: skip
    assert first.status == "drawn", first.outcome
    row = service.get_joint(engine, joint)
    assert row.status == "drawn" and "failure" not in (row.outcome or {})
