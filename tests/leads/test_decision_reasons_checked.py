"""A lead's decision reason (accept, merge, reject) is checked as every reason is: a NUL in it
failed PostgreSQL's write (``POST /leads/{id}/reject`` answered 500) and SQLite stored it, and a
zero-width space or a right-to-left override pasted with it went into the lead and the audit log
unseen. Now each is refused naming the field and the character, nothing decided. On SQLite and
PostgreSQL."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from leads import service
from leads.models import LeadStatus
from shuangsui.errors import UserError
from tests.leads.helpers import complaint, outside_code


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        ("注销\x00", "the control character U+0000"),
        ("经核查\u200b已注销", "the invisible character U+200B (ZERO WIDTH SPACE)"),
        ("属实\u202e", "the invisible character U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ],
)
def test_a_reason_with_a_control_or_invisible_character_decides_nothing(
    engine: sa.Engine, reason: str, said: str
) -> None:
    code = outside_code()
    lead, other = complaint(engine, code), complaint(engine, code, by="王科长")
    steps = [
        lambda: service.reject(engine, lead, reason=reason, by="林科长"),
        lambda: service.merge(engine, lead, into=other, reason=reason, by="林科长"),
        lambda: service.accept(engine, lead, check_item="CCC-01", reason=reason, by="林科长"),
    ]
    for step in steps:
        with pytest.raises(UserError, match="^" + re.escape(f"reason: contains {said}; retype")):
            step()
    assert service.get(engine, lead).status is LeadStatus.received
    done = service.reject(engine, lead, reason="经核查已注销\n（电话核实）", by="林科长")
    assert done.decision_reason == "经核查已注销\n（电话核实）"  # a line break stays
