"""What a coordinator sees of a joint round whose reveal deadline has passed with a reveal
missing, before anyone runs ``joint draw`` (three bureaus served on loopback, SQLite and
PostgreSQL). ``joint status``, ``partners status`` and the workspace's partners page said,
while waiting, ``waiting for the reveal of 330000``; once the deadline passed they said nothing
at all (the rule had failed the round, but only ``joint draw`` records it), so the withholder
went unnamed until someone thought of drawing. Now the line the draw would record is shown at
once, with the commitment as evidence and the command that records it."""

from __future__ import annotations

import datetime as dt

from joint import service
from joint.evidence import evidence
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, SH, ZJ, Trio

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)
LATE = dt.timedelta(hours=1)  # past both deadlines of joint_yaml


def test_a_withholder_is_named_once_the_deadline_has_passed(trio: Trio) -> None:
    joint = "jt-silent"
    trio.commit(joint)
    for code in (FJ, SH):
        trio.reveal(code, joint)
    engine = trio.b[FJ].engine
    row = service.get_joint(engine, joint)
    assert evidence(engine, row) == [f"waiting for the reveal of {ZJ}"]
    plan = service.plan_of(row)
    later = evidence(engine, row, now=dt.datetime.now(dt.UTC) + LATE)
    assert len(later) == 1, later
    assert later[0].startswith(
        f"!!! {ZJ} WITHHELD ITS REVEAL in joint round {joint}: deadline {plan['reveal_deadline']}; "
        "signed commitment(s) "
    ), later
    assert later[0].endswith(
        f"(the round has failed by the rule: `shuangsui joint draw {joint}` records it)"
    ), later
    assert service.get_joint(engine, joint).status == "revealed"  # nothing recorded by looking
