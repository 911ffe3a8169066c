"""``leads list`` (and the workspace's list of leads) name each lead's enterprise
(``leads.search.names``), every lead's at once: one IN of every code, a parameter a code, past
PostgreSQL's 65,535 once the leads named more enterprises (psycopg's OperationalError, a
traceback). The codes are now read ``leads.search.LOOKUP`` at a time."""

from __future__ import annotations

import random

import sqlalchemy as sa

from leads import search
from tests.rounds.factories import credit_code, seed_registry


def test_the_names_of_seventy_thousand_leads_enterprises_are_read(engine: sa.Engine) -> None:
    known = seed_registry(engine)
    rng = random.Random(4)
    codes = [credit_code(rng, "350100") for _ in range(70_000)] + known
    named = search.names(engine, codes)
    assert set(named) == set(known) and all(named.values())
