"""What a partner's answer can legitimately be (docs/exchange-protocol.md, "Answer bounds"):
time, bytes and, for JSON, values. :class:`exchange.answers.Bounded` reads each answer within
its bound; here are the bounds themselves and the count of JSON values, pure.

The values of a JSON answer are counted before it is parsed, since a few bytes parse into a
large object (``{}``: 3 bytes, a 64-byte dict). Its bytes are counted as they are decoded
(``exchange.codings``), so a compressed answer is bounded by what it inflates to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEADLINE = 120.0  # seconds for a whole answer (a page of entries, a joint round's frames)
MAX_ANSWER_BYTES = 64 * 2**20  # any answer (a joint round's frames, a page of large entries)
REFUSAL_BYTES = 64 * 2**10  # what is read of an answer other than 2xx: its problem detail


@dataclass(frozen=True)
class Bound:
    """What one kind of answer can legitimately be: at most ``size`` bytes and, for JSON, at
    most ``values`` JSON values (docs/exchange-protocol.md, "Answer bounds")."""

    what: str
    size: int
    values: int = 0  # 0: not JSON


CHECKPOINT = Bound("a checkpoint", 2**20)  # a note of ~8,000 signature lines
PROOF = Bound("a proof", 64 * 2**10, 512)  # at most 2 x 64 hashes of 44 characters
GOSSIP = Bound("witness gossip", 8 * 2**20, 100_000)  # a note per log witnessed; proofs
ABOUT = Bound("a feed's statement of itself", 64 * 2**10, 1_000)  # 256 kinds at most
PAGE_LIMIT = 10_000  # entries asked per page: the largest page a server makes
PAGE_BYTES = MAX_ANSWER_BYTES  # the protocol sets no largest entry (a round's exclusions)


def page_bound(limit: int) -> Bound:
    """A page of at most ``limit`` entries ``{"seq", "entry"}``: 5 values each, 16 allowed."""
    return Bound(f"a page of {limit} entries", PAGE_BYTES, 16 * limit + 64)


# One JSON value (a string or key, an object or array as it opens, a number or literal), or
# a run of what separates values (group 1, not counted). Linear: no alternative backtracks.
_VALUE = re.compile(
    rb'([\s\]},:]++)|"[^"\\]*+(?:\\.[^"\\]*+)*+"?|[\[{]|[^\s\[\]{},:"]++', re.DOTALL
)


def json_values(body: bytes | bytearray | memoryview, most: int) -> int:
    """How many JSON values ``body`` holds, counted up to ``most`` + 1 at most: a scan, not a
    parse. Malformed JSON is counted as well as it goes; the parser refuses it afterwards."""
    n = 0
    for match in _VALUE.finditer(body):
        if match.start(1) < 0:
            n += 1
            if n > most:
                break
    return n
