"""What the site has shown is not taken back by the next publish.

A round deleted from the database together with the tail of the audit log it ends (its
commitment, draw and notices: a log whose last events are gone cannot be told from an honest
one without a head written down elsewhere), then committed again under its key and drawn with
other digits (its commitment time set back to the first's, so that its commitment is the one
published), verified (``round verify``: one commitment, one draw) and was published over the
first: the round page and the bundle showed the new seed, nothing said. A round deleted and not
committed again was taken off the site, its commitment with it. The site's manifest knows
which rounds it published and with which seed each draw was shown: a publish that would change
either is refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, SQLModel, col, select

from rounds import bundle, service
from rounds.entropy import EntropyInput
from rounds.models import AuditEvent, Round
from shuangsui.errors import IntegrityError
from tests.rounds.factories import plan_yaml, seed_registry
from website.site import publish

KEY = "ccc-2026-12"


def _commit_and_draw(engine: sa.Engine, digits: str) -> str:
    service.commit_round(engine=engine, plan_text=plan_yaml())
    drawn = service.draw_round(engine=engine, round_key=KEY,
                               entropy=EntropyInput(digits, ("张三",)))  # fmt: skip
    assert drawn.seed
    return drawn.seed


def _erase_the_round(engine: sa.Engine) -> None:
    """Its rows, and the audit log from its first event on (the log's tail: the chain left
    holds)."""
    with Session(engine) as s:
        first = s.exec(select(AuditEvent.seq).where(AuditEvent.round_key == KEY)
                       .order_by(col(AuditEvent.seq))).first()  # fmt: skip
        assert first is not None
        for table in reversed(SQLModel.metadata.sorted_tables):
            if "round_key" in table.c and table.name != AuditEvent.__tablename__:
                s.execute(table.delete().where(table.c.round_key == KEY))
        s.execute(sa.delete(AuditEvent).where(col(AuditEvent.seq) >= first))
        s.commit()


def test_a_round_drawn_again_under_its_key_is_not_published_over_the_first(
    engine: sa.Engine, tmp_path: Path
) -> None:
    seed_registry(engine)
    first = _commit_and_draw(engine, "31415926535897932384626433")
    out = tmp_path / "site"
    publish(engine, out)
    page = out / "rounds" / KEY / "index.html"
    assert first in page.read_text("utf-8")  # the seed is public from the draw on

    committed_at = service.get_round(engine, KEY).committed_at
    _erase_the_round(engine)
    second = _commit_and_draw(engine, "27182818284590452353602874")
    with Session(engine) as s:  # the commitment as first published, to the second
        s.execute(sa.update(Round).where(col(Round.round_key) == KEY)
                  .values(committed_at=committed_at))  # fmt: skip
        s.commit()
    bundle.recompute(engine, KEY)  # one commitment, one draw, a chain that holds: verified
    shown = page.read_bytes()
    with pytest.raises(IntegrityError) as refused:
        publish(engine, out)
    assert str(refused.value) == (
        f"round {KEY}: this site published its draw with seed {first}; the database now holds "
        f"seed {second}; a round key is drawn once (nothing published)"
    )
    assert page.read_bytes() == shown


def test_a_published_round_gone_from_the_database_is_not_taken_off_the_site(
    engine: sa.Engine, tmp_path: Path
) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    out = tmp_path / "site"
    publish(engine, out)
    commitment = out / "rounds" / KEY / "commitment.json"
    published = commitment.read_bytes()

    _erase_the_round(engine)
    with pytest.raises(IntegrityError, match=f"round\\(s\\) {KEY}: published on this site"):
        publish(engine, out)
    assert commitment.read_bytes() == published
