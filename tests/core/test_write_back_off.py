"""A write retried after a collision waits a random moment (``shuangsui.writes.back_off``)
drawn from its own generator: the API serves requests in threads beside code that owns the
process's global ``random`` state (Hypothesis, drawing a fuzz test's examples, fails the test
when that state moves under it)."""

from __future__ import annotations

import random

from shuangsui.writes import back_off


def test_the_wait_before_a_retry_leaves_the_global_random_state_alone() -> None:
    random.seed(17)
    before = random.getstate()
    for attempt in (1, 2, 3):
        back_off(attempt)  # at most 5, 10, 20 ms
    assert random.getstate() == before
