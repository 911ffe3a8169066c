"""A simulated bureau's SQLite database of five years of monthly rounds, for
``bench_deadlines.py``: the same every time (seeded), made once and kept in its folder.

Made with the repository's own code paths, quickly, as the tests make theirs: one round drawn
(``tests.findings.factories.drawn_round``: a registry of ``ENTERPRISES`` enterprises with a CCC
certificate each, ``rounds.service.commit_round`` and ``draw_round`` with fixed witness digits),
then copied, with its teams, into two rounds a month for ``MONTHS`` months (as
``tests.api.test_list_pages.Desk.rounds_like_this_one`` copies it), each month's assignments due
at the end of the next month. Each enterprise of a round gets its finding through
``findings.service.add_version`` (the path the API, the workspace and the findings import
share), its whole team signing it at once on a day drawn from a seeded generator: mostly within
six weeks of the round, one in twenty months later, so that results become final over months
and their publication days fall among later rounds'. The rounds of the last months have findings
still missing; most older results are published (a ``PublishedResult`` row, as the publish
records it), some not (late), and a few published ones are corrected (a second version with a
reason) and wait for their correction's publication. Signatures are dated before ``ANCHOR``:
which items are late and which due soon follows the day the bench runs.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlmodel import Session

ANCHOR = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)  # the simulated history ends here
MONTHS = 60
PLANS = ["ccc", "ccc-b"]  # two rounds a month: copies of one drawn round under two plan ids
ENTERPRISES, INSPECTORS, SEED = 150, 24, 2026
PARAMETERS = {"version": 1, "anchor": ANCHOR.isoformat(), "months": MONTHS, "plans": PLANS,
              "enterprises": ENTERPRISES, "inspectors": INSPECTORS, "seed": SEED}  # fmt: skip


def database(folder: Path) -> Path:
    """The simulated database in ``folder``, made first if it is not there (or was made with
    other parameters, or its making was cut short)."""
    path, made = folder / "shuangsui.db", folder / "made.json"
    if path.exists() and made.exists() and json.loads(made.read_text()) == PARAMETERS:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    made.unlink(missing_ok=True)
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):  # only what it made
        (folder / name).unlink(missing_ok=True)
    _make(f"sqlite:///{path}")
    made.write_text(json.dumps(PARAMETERS))
    return path


def _month(index: int) -> tuple[int, int]:
    """The year and month (from 1) of a month counted from the year 0."""
    year, month0 = divmod(index, 12)
    return year, month0 + 1


def _make(url: str) -> None:
    from sqlmodel import Session, select

    from rounds.models import Assignment, Round
    from shuangsui import db
    from tests.findings.factories import ROUND, drawn_round

    db.migrate(url)
    engine = db.make_engine(url)
    teams = drawn_round(engine, enterprises=ENTERPRISES, inspectors=INSPECTORS, seed=7)
    rng = random.Random(SEED)
    with Session(engine) as session:
        model = session.get(Round, ROUND)
        assert model is not None
        drawn = session.exec(select(Assignment).where(Assignment.round_key == ROUND)).all()
        anchor = ANCHOR.year * 12 + ANCHOR.month - 1
        for recent in range(MONTHS, 0, -1):  # months before ANCHOR's, the oldest first
            year, month = _month(anchor - recent)
            committed = dt.datetime(year, month, 1, 1, 0, tzinfo=dt.UTC)
            after = _month(anchor - recent + 2)  # due at the end of the next month
            due = dt.date(*after, 1) - dt.timedelta(days=1)
            period = f"{year}-{month:02d}"
            for plan in PLANS:
                key = f"{plan}-{period}"
                fields = {"round_key": key, "plan_id": plan, "period": period,
                          "committed_at": committed}  # fmt: skip
                session.add(Round.model_validate(model.model_dump() | fields))
                session.flush()
                session.add_all(Assignment(**a.model_dump() | {"round_key": key, "due_on": due})
                                for a in drawn)  # fmt: skip
                session.flush()
                for code, team in sorted(teams.items()):
                    _result(session, rng, key, code, team, committed, recent)
        session.commit()
    engine.dispose()


def _result(session: Session, rng: random.Random, key: str, code: str, team: list[str],
            committed: dt.datetime, recent: int) -> None:  # fmt: skip
    """One enterprise's finding in round ``key`` (``recent``: its month's distance from
    ``ANCHOR``'s), as the history made it."""
    from findings import service
    from findings.models import PublishedResult
    from findings.schemas import FindingIn

    if rng.random() < {1: 0.5, 2: 0.2, 3: 0.05}.get(recent, 0.01):
        return  # no finding yet: late once the assignment's due date has passed
    days = rng.randint(5, 40) if rng.random() > 0.05 else rng.randint(60, 300)
    final = min(committed + dt.timedelta(days=days, hours=rng.randint(0, 9)), ANCHOR)
    data = FindingIn.model_validate({"result": "no_problem", "check_date": final.date()})
    version = service.add_version(session, round_key=key, credit_code=code, data=data,
                                  submitted_by=f"inspector:{team[0]}", signers=team, via="api",
                                  team=team, now=final)  # fmt: skip
    assert version is not None and version.id is not None
    published = final + dt.timedelta(days=rng.randint(1, 25))
    if published >= ANCHOR or rng.random() < 0.03:
        return  # made final, not published: due for publication
    session.add(PublishedResult(version_id=version.id, finding_id=version.finding_id,
                                published_at=published))  # fmt: skip
    if rng.random() < 0.02:  # corrected after publication, the correction not yet published
        again = min(published + dt.timedelta(days=rng.randint(3, 200)), ANCHOR)
        data = FindingIn.model_validate({"result": "other", "check_date": final.date(),
                                         "reason": "更正"})  # fmt: skip
        service.add_version(session, round_key=key, credit_code=code, data=data,
                            submitted_by=f"inspector:{team[0]}", signers=team, via="api",
                            team=team, now=again)  # fmt: skip
