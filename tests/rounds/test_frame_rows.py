"""The registry's rows for a frame: both tables are read in credit-code order and joined as
they pass (neither is held). The join must give every active firm exactly its certificates of
the plan's kinds, whatever order the rows were written in, as a plain reading of both would."""

from __future__ import annotations

import datetime as dt
import random

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from draw.frame import EnterpriseRow
from registry.models import Certificate, Enterprise
from rounds import frames
from rounds.plans import load_plan_text
from tests.rounds.factories import NOW, credit_code, plan_yaml, seed_registry


def _naive(engine: sa.Engine, kinds: list[str]) -> dict[str, tuple[str, ...]]:
    """credit code -> sorted (kind/status) of its certificates of ``kinds``, active firms only."""
    with engine.connect() as conn:
        active = {c for (c,) in conn.execute(sa.text(
            "SELECT credit_code FROM enterprise WHERE status = 'active'"))}  # fmt: skip
        held: dict[str, list[str]] = {}
        for code, kind, status in conn.execute(
            sa.text("SELECT credit_code, kind, status FROM certificate")
        ):
            if kind in kinds and code in active:
                held.setdefault(code, []).append(f"{kind}/{status}")
    return {code: tuple(sorted(pairs)) for code, pairs in held.items()}


def test_rows_join_each_active_firm_with_its_certificates(engine: sa.Engine) -> None:
    seed_registry(engine, enterprises=30)
    rng = random.Random(11)
    with Session(engine) as session:  # written in no particular order
        codes = [credit_code(rng, "350100") for _ in range(40)]
        for i, code in enumerate(codes):
            session.add(Enterprise(credit_code=code, name=f"企业{i}", division_code="350100",
                                   risk_class="B", updated_at=NOW,
                                   status="deregistered" if i % 7 == 3 else "active"))  # fmt: skip
        session.flush()
        for i, code in enumerate(rng.sample(codes, len(codes))):
            for j in range(i % 4):  # none, one, two or three certificates; some not CCC
                session.add(Certificate(
                    body="CQC", number=f"X{i:04d}{j}", credit_code=code,
                    kind="ccc" if j != 1 else "organic",
                    status="valid" if j != 2 else "suspended",
                    issued_on=dt.date(2025, 1, 1), expires_on=dt.date(2030, 1, 1),
                    updated_at=NOW))  # fmt: skip
        session.commit()
    plan, _ = load_plan_text(plan_yaml())
    with engine.connect() as conn:
        rows = [EnterpriseRow(*fields) for fields in frames.enterprise_rows(conn, plan)]
    got = [r.credit_code for r in rows]
    assert got == sorted(got) and len(set(got)) == len(got)  # in code order, each once
    joined = {r.credit_code: tuple(sorted(f"{k}/{s}" for k, s in r.certs)) for r in rows}
    assert joined == _naive(engine, list(plan["population"]["cert_kinds"]))
    assert any(len(c) > 1 for c in joined.values())  # firms with several certificates
    assert not any(code in joined for i, code in enumerate(codes) if i % 7 == 3)  # deregistered


@pytest.mark.timeout(120)
def test_a_statement_while_rows_stream_is_refused_not_left_waiting(engine: sa.Engine) -> None:
    """PostgreSQL streams the rows (one result per connection, its lock held between rows): a
    statement on the same connection before they are read is an error, not a wait for ever.
    Closing the generator early cancels the query: the transaction is rolled back, and the
    connection works again."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's cursor steps through the rows: other statements may run between")
    seed_registry(engine, enterprises=30)
    plan, _ = load_plan_text(plan_yaml())
    with engine.connect() as conn:
        rows = frames.enterprise_rows(conn, plan)
        first = next(rows)
        with pytest.raises(frames.StreamInProgress, match="still streaming"):
            conn.execute(sa.text("SELECT count(*) FROM enterprise"))
        rows.close()
        conn.rollback()
        assert conn.execute(sa.text("SELECT count(*) FROM enterprise")).scalar() >= 30
        assert first[0]  # its credit code


@pytest.mark.timeout(120)
def test_a_frame_that_fails_half_read_leaves_the_connection_usable(engine: sa.Engine) -> None:
    """A registry row the plan cannot place (a risk class with no rate) stops the frame while
    its rows are still being read: the commit is refused with the plan's error, and the
    connection goes back to the pool (on PostgreSQL the stream is closed first: its
    connection's lock would otherwise keep the rollback waiting for ever)."""
    from rounds import service
    from shuangsui.errors import PlanError

    seed_registry(engine, enterprises=60)
    text = plan_yaml(rates="{A: '10%', B: '20%'}")  # the registry has C and D firms too
    with pytest.raises(PlanError, match="no rate for risk class"):
        service.commit_round(engine=engine, plan_text=text, plan_source="test")
    with engine.connect() as conn:  # the pool's connections still work
        assert conn.execute(sa.text("SELECT count(*) FROM enterprise")).scalar() >= 60
