"""``rounds.audit.add_many`` (the leads import's, the targeting's bulk append) writes each
event's payload without ``dataclasses.asdict``'s deep copy, and must write the very text
``add_to`` writes with it: the chain's hashes are over that text."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from leads import events
from rounds import audit


@dataclass(frozen=True)
class Inner:
    code: str
    n: int


@dataclass(frozen=True)
class Nesting:
    """An event with a dataclass in a field, in a list, in a dict, and a tuple."""

    inner: Inner
    inners: list
    by_key: dict
    pair: tuple
    text: str = '中文 "引号" \n'


EVENTS = [
    events.LeadReceived(1, "complaint", "91350100MA2Y00019B", "虚假认证", "2026-12-01", "林"),
    events.LeadsImported("leads.csv", "0" * 64, list(range(1, 2001)), "林科长"),
    audit.EntropyAwaited("等待"),
    Nesting(Inner("a", 1), [Inner("b", 2), 3], {"k": Inner("c", 3), "z": [1.5, None]}, (1, "二")),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_a_bulk_payload_is_the_text_asdict_gives(event: object) -> None:
    expected = audit._canonical(dataclasses.asdict(event)).decode()  # type: ignore[call-overload]
    assert audit._payload(event) == expected


def test_a_value_json_cannot_write_is_refused_as_asdict_would_have_it_refused() -> None:
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        audit._payload(Nesting(Inner("a", 1), [{1, 2}], {}, ()))
