"""The coordinator's ``GET /deadlines``, a page at a time, on a copy of a bureau's database,
beside its floor.

    .venv/bin/python bench/bench_deadlines.py [--generate DIR | --database PATH] [--limit 100]

Without ``--database`` it uses the simulated bureau of ``bench/deadlines_world.py`` (121 rounds,
two a month for five years, 5,808 results; the same every time), made in ``--generate DIR``
(default: ``shuangsui-bench-deadlines`` in the temporary folder) the first time, in about half a
minute, and kept there for the next runs. The database is copied into a temporary folder first:
the original is never written (a coordinator token is made in the copy).

Through the application's own routes (FastAPI's test client, in this process): the first page
and every page of a walk to the end, five walks, with ``all=true`` and without; beside them
``GET /rounds?limit=1``, a page that reads one row, for what a request costs before its list.

The floor, in turns with each walk: the same pages computed by the leanest code. On the
``sqlite3`` connection of the copy: the rounds' spans read as the page reads them (two grouped
reads, each round's earliest and latest due date and first and last signature, the latter
counted on by ``findings.deadlines.add_working_days``), the rounds taken in the order of their
earliest day until the page is full before the next one's (``findings.overdue.page``'s rule);
for each round taken, three reads (its assignments with their due dates and teams in order,
its versions with their signatures, the versions published), each enterprise's latest version
its whole team signed found in Python, its publication or correction day counted by
``add_working_days`` from the day (in the bureau's zone) of the team's last signature, the days
left by ``findings.deadlines.working_days_left``; the items after the page's cursor (the last
item of the page before), late or due soon only without ``all``, sorted by (due, round,
enterprise), the first ``limit`` of them ``json.dumps``ed as the route's body. The floor's walk
must give the same items as the route's (the same digest; asserted).

Prints wall and CPU (``time.process_time``) medians of the first page, a later page and a whole
walk, the route's over the floor's, the items, the pages and the digest of the walked body (the
same before and after a change that must not change it); asserts nothing about time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sqlalchemy as sa  # noqa: E402

from api import tokens  # noqa: E402
from api.app import create_app  # noqa: E402
from findings.deadlines import add_working_days, working_days_left  # noqa: E402
from findings.overdue import Rules  # noqa: E402
from shuangsui.config import get_settings  # noqa: E402

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

WALKS = 5
Times = list[tuple[float, float]]  # (wall, CPU) of each page


class Timed:
    """A client of the API that keeps the wall and CPU seconds of each request."""

    def __init__(self, engine: sa.Engine) -> None:
        token = tokens.create_coordinator(engine, "bench-deadlines", get_settings().bureau_code)
        self.auth = {"Authorization": f"Bearer {token}"}
        self.client = TestClient(create_app(engine=engine))

    def get(self, url: str, params: dict[str, Any] | None = None) -> tuple[Any, float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        r = self.client.get(url, params=params, headers=self.auth)
        assert r.status_code == 200, r.text
        return r, time.perf_counter() - wall, time.process_time() - cpu


def walk(api: Timed, params: dict[str, Any]) -> tuple[list[Any], Times]:
    """Every item of the list, following the next links, and each page's (wall, CPU)."""
    r, wall, cpu = api.get("/deadlines", params)
    items, times = list(r.json()), [(wall, cpu)]
    while "next" in r.links:
        r, wall, cpu = api.get(r.links["next"]["url"])
        items += r.json()
        times.append((wall, cpu))
    return items, times


# ------------------------------------------------------------------ the floor
def _day(text: str) -> date:
    return date.fromisoformat(text)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)  # SQLite's text, written in UTC


class Floor:
    """``GET /deadlines``'s pages by the ``sqlite3`` module and the pure working-day functions
    (the module's docstring says what it does)."""

    def __init__(self, path: Path, rules: Rules) -> None:
        self.db, self.rules, self.zone = sqlite3.connect(path), rules, ZoneInfo(rules.timezone)

    def walk(self, limit: int, pending_only: bool) -> tuple[list[dict[str, Any]], Times]:
        items: list[dict[str, Any]] = []
        times: Times = []
        after: tuple[str, str, str] | None = None
        while True:
            wall, cpu = time.perf_counter(), time.process_time()
            found = self.page(after, limit, pending_only)
            body = json.dumps(found[:limit])
            times.append((time.perf_counter() - wall, time.process_time() - cpu))
            items += json.loads(body)
            if len(found) <= limit:
                return items, times
            last = found[limit - 1]
            after = (last["due"], last["round_key"], last["credit_code"])

    def page(self, after: tuple[str, str, str] | None, limit: int, pending_only: bool) -> list:
        found: list[dict[str, Any]] = []
        for key, first, last in sorted(self.spans(), key=lambda s: s[1]):
            if after is not None and last.isoformat() < after[0]:
                continue
            if len(found) > limit and found[limit]["due"] < first.isoformat():
                break
            found += [i for i in self.items(key) if (after is None or _key(i) > after)
                      and not (pending_only and i["status"] == "ok")]  # fmt: skip
            found.sort(key=_key)
        return found[: limit + 1]

    def spans(self) -> list[tuple[str, date, date]]:
        rules, days = self.rules, {}
        fewer = min(rules.publish_days, rules.correction_days)
        more = max(rules.publish_days, rules.correction_days)
        q = "SELECT round_key, min(due_on), max(due_on) FROM assignment GROUP BY round_key"
        for key, first, last in self.db.execute(q):
            days[key] = [_day(first), _day(last)]
        q = ("SELECT f.round_key, min(s.signed_at), max(s.signed_at) FROM finding_signoff s "
             "JOIN finding_version v ON v.id = s.version_id JOIN finding f ON f.id = v.finding_id "
             "GROUP BY f.round_key")  # fmt: skip
        for key, first, last in self.db.execute(q):
            first, last = (_moment(at).astimezone(self.zone).date() for at in (first, last))
            earliest = add_working_days(first, fewer, rules.calendar).day
            latest = add_working_days(last, more, rules.calendar).day
            days.setdefault(key, []).extend((earliest, latest))
        return [(key, min(d), max(d)) for key, d in days.items()]

    def items(self, key: str) -> list[dict[str, Any]]:
        """The round's due items, as ``findings.overdue.due_items`` lists them."""
        rules = self.rules
        teams: dict[str, list[str]] = {}
        due: dict[str, str] = {}
        q = ("SELECT credit_code, inspector_id, due_on FROM assignment WHERE round_key = ? "
             "ORDER BY credit_code, position")  # fmt: skip
        for code, inspector, on in self.db.execute(q, (key,)):
            teams.setdefault(code, []).append(inspector)
            due[code] = on
        q = ("SELECT f.credit_code, v.id, v.version, s.inspector_id, s.signed_at "
             "FROM finding f JOIN finding_version v ON v.finding_id = f.id "
             "LEFT JOIN finding_signoff s ON s.version_id = v.id "
             "WHERE f.round_key = ?")  # fmt: skip
        versions: dict[str, dict[int, tuple[int, dict[str, str]]]] = {}
        for code, vid, number, inspector, at in self.db.execute(q, (key,)):
            signed = versions.setdefault(code, {}).setdefault(number, (vid, {}))[1]
            if inspector is not None:
                signed[inspector] = at
        q = ("SELECT p.version_id FROM published_result p JOIN finding f ON f.id = p.finding_id "
             "WHERE f.round_key = ?")  # fmt: skip
        published = {vid for (vid,) in self.db.execute(q, (key,))}
        out = []
        for code, team in teams.items():
            finals = [(n, vid, signed) for n, (vid, signed) in versions.get(code, {}).items()
                      if all(i in signed for i in team)]  # fmt: skip
            if not finals:
                out.append(self.item(key, code, "finding", None, _day(due[code]), ()))
                continue
            number, vid, signed = max(finals)
            if vid in published:
                continue
            corrected = any(v in published for n, (v, _) in versions[code].items() if n < number)
            days = rules.correction_days if corrected else rules.publish_days
            final = max(_moment(signed[i]) for i in team).astimezone(self.zone).date()
            deadline = add_working_days(final, days, rules.calendar)
            what = "correction" if corrected else "publish"
            out.append(self.item(key, code, what, number, deadline.day, deadline.warnings))
        return out

    def item(self, key: str, code: str, what: str, version: int | None, due: date,
             warnings: tuple[str, ...]) -> dict[str, Any]:  # fmt: skip
        today, soon = self.rules.today, self.rules.soon_days
        left = working_days_left(today, due, self.rules.calendar)
        status = "late" if due < today else ("due-soon" if left <= soon else "ok")
        return {"round_key": key, "credit_code": code, "what": what, "version": version,
                "due": due.isoformat(), "days_left": left, "status": status,
                "warnings": list(warnings)}  # fmt: skip


def _key(item: dict[str, Any]) -> tuple[str, str, str]:
    return item["due"], item["round_key"], item["credit_code"]


# ------------------------------------------------------------------ the runs
def median(values: list[float]) -> float:
    return statistics.median(values)


def parts(walks: list[Times]) -> dict[str, Times]:
    """A walk's first page, its later pages and its whole, each as (wall, CPU) pairs."""
    later = [t for times in walks for t in times[1:]] or [(0.0, 0.0)]
    whole = [(sum(w for w, _ in times), sum(c for _, c in times)) for times in walks]
    return {"first page": [times[0] for times in walks], "a later page": later,
            "a whole walk": whole}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--database", type=Path, help="a bureau's SQLite database (copied)")
    ap.add_argument("--generate", type=Path, help="the simulated bureau's folder (made once)",
                    default=Path(tempfile.gettempdir()) / "shuangsui-bench-deadlines")  # fmt: skip
    ap.add_argument("--limit", type=int, default=100)
    args = ap.parse_args()
    logging.disable(logging.WARNING)  # deadlines in years without holiday data warn per item
    if args.database is None:
        import deadlines_world

        wall = time.perf_counter()
        args.database = deadlines_world.database(args.generate)
        print(f"database {args.database} (ready in {time.perf_counter() - wall:.1f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "shuangsui.db"
        shutil.copy(args.database, copy)
        api = Timed(sa.create_engine(f"sqlite:///{copy}"))
        floor = Floor(copy, Rules.from_settings())
        one_row = [api.get("/rounds", {"limit": 1})[1:] for _ in range(20)]
        print(
            "GET /rounds?limit=1 (a request reading one row): "
            f"wall {median([w for w, _ in one_row]):.3f} s, "
            f"CPU {median([c for _, c in one_row]):.3f} s"
        )
        for everything in (True, False):
            params = {"limit": args.limit} | ({"all": "true"} if everything else {})
            routes, floors = [], []
            for n in range(WALKS):  # in turns, each first every other walk
                for kind in ("route", "floor") if n % 2 == 0 else ("floor", "route"):
                    if kind == "route":
                        routes.append(walk(api, params))
                    else:
                        floors.append(floor.walk(args.limit, pending_only=not everything))
            items = routes[0][0]
            assert all(w[0] == items for w in routes), "the walks differ"
            assert all(w[0] == items for w in floors), "the floor's items differ from the route's"
            digest = hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]
            print(f"all={str(everything).lower()}: {len(items)} items, {len(routes[0][1])} pages "
                  f"of {args.limit}, body sha256 {digest} (the floor's the same)")  # fmt: skip
            ours, lean = parts([t for _, t in routes]), parts([t for _, t in floors])
            for part, times in ours.items():
                wall, cpu = median([w for w, _ in times]), median([c for _, c in times])
                fw = median([w for w, _ in lean[part]])
                fc = median([c for _, c in lean[part]])
                print(f"  {part:<13} route wall {wall:.4f} s, CPU {cpu:.4f} s; floor wall "
                      f"{fw:.4f} s, CPU {fc:.4f} s; page / floor {wall / fw:5.2f}x, "
                      f"CPU {cpu / fc:5.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
