"""A lead with 8,000 enterprises (its commitment's frames are about 1.2 MB, past the 1 MiB a
partner's route takes) in a joint round with two partners (three bureaus served on loopback,
SQLite and PostgreSQL). Its push was answered 413 and printed as
``commit -> 310000: partner 310000 answered HTTP 413: the request body is larger than 1048576
bytes, the limit of this route``, with no word of what to do; a partner committing after it
did not hold the lead's commitment, and its ``joint status`` said ``waiting for the commitment
of 350000`` until a reveal or a draw happened to pull. Now the push says the partner takes it
by a pull and by when, and a partner's ``joint commit`` pulls what the others hold: the round
is committed, revealed and decided alike at every bureau with no step added."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from joint import service
from tests.exchange.bureaus import make_bureau, served, write_directory
from tests.joint.test_protocol import FJ, SH, ZJ, Trio
from tests.joint.world import NAMES, joint_yaml
from tests.rounds.factories import seed_registry
from tests.servers import free_port

LARGE = 8_000  # enterprises of the lead: past 1 MiB of frames (about 150 bytes each, escaped)


@pytest.fixture
def large(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Trio]:
    """tests.joint.test_protocol.trio, the lead's registry holding LARGE enterprises."""
    urls = {FJ: db_url}
    if db_url.startswith("postgresql"):
        make = request.getfixturevalue("new_postgres_database")
        urls |= {c: make(f"large_{c}") for c in (SH, ZJ)}
    bureaus = {c: make_bureau(tmp_path, c, urls.get(c)) for c in NAMES}
    ports = {c: free_port() for c in NAMES}
    for c, b in bureaus.items():
        b.base_url = f"http://127.0.0.1:{ports[c]}"
        seed_registry(b.engine, seed=int(c[:2]), province=c[:2],
                      enterprises=LARGE if c == FJ else 60)  # fmt: skip
    for b in bureaus.values():
        write_directory(b.home / "partners.toml", [o for o in bureaus.values() if o is not b])
    try:
        with contextlib.ExitStack() as stack:
            for c, b in bureaus.items():
                stack.enter_context(served(b, ports[c]))
            yield Trio(bureaus)
    finally:
        for b in bureaus.values():
            b.engine.dispose()


def test_a_large_leads_commitment_reaches_the_partners_by_their_pull(large: Trio) -> None:
    joint, text = "jt-large", joint_yaml("jt-large")
    lead = large.me[FJ]
    service.commit(large.b[FJ].engine, lead, text)
    plan = service.plan_of(service.get_joint(large.b[FJ].engine, joint))
    for code in (SH, ZJ):
        line = next(s for s in lead.sent if s.startswith(f"commit -> {code}: "))
        assert re.fullmatch(
            rf"commit -> {code}: too large for its route \(HTTP 413: [^)]*1048576 bytes[^)]*\): "
            rf"our commitment with its frames is [0-9,]+ bytes; {code} takes it by a pull "
            rf"\(`shuangsui joint pull {joint}` there; `joint commit`, `joint reveal` and `joint "
            rf"draw` pull first\) before the commit deadline {plan['commit_deadline']}",
            line,
        ), line
    for code in (SH, ZJ):  # each partner commits after the lead, as a lead's proposal goes
        service.commit(large.b[code].engine, large.me[code], text)
        held = {r.bureau for r in service.held(large.b[code].engine, joint, ("commit",))}
        assert FJ in held, (code, held, large.me[code].pulled)
    for code in NAMES:
        large.reveal(code, joint)
    # decided alike everywhere, from one seed: every commitment and reveal is held at each
    # (12 inspectors a bureau cannot staff the teams of 8,000 enterprises: the fixed failure
    # `infeasible`, which §13.3 gives only once the seed is computed)
    decided = []
    for code in NAMES:
        row = service.draw(large.b[code].engine, large.me[code], joint)
        out = row.outcome or {}
        decided.append((row.status, out.get("seed") or out["failure"]["seed"]))
    assert len(set(decided)) == 1, decided
