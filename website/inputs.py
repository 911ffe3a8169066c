"""What the public site is made of, as fingerprints: a publish skips what has not changed.

The site is rendered from: the public rounds' rows, their plans and check items; the drawn
enterprises' names and divisions; the teams (whose signatures make a version final), the
findings, their versions and sign-offs; the settings the pages show; the disclosure clock
(through whether each round is revealed); when each commitment was first published; and this
program (its source, templates and data files, and the libraries that render).

The round rows and plans are read whole (a few rows). The findings are fingerprinted by
``finding_change``, a row for every row of ``finding``, ``finding_version`` and
``finding_signoff`` inserted, updated or deleted, which the database's triggers write in the
writer's own transaction (findings/models.py, migration 0017). A round's count of rows there
and their largest id, read on one narrow index, change with any write to its findings, even
one in place. (The count, not the largest id alone: on PostgreSQL a transaction that took an
id commits after one that took a larger id, and a publish between the two would not see the
first by the largest id.) The other large tables are fingerprinted by their counts, exact
because they are written once: ``selection`` and ``assignment`` by their round's draw (a
member replaced on a team moves a row of ``assignment`` and adds one to ``team_change``,
written once too, so the count of the latter stands for both); an
enterprise changes only through the registry import, which sets ``updated_at`` and appends a
``registry_change`` row per change (registry/history.py). A writer that broke these rules
would not be seen until the next change of its round: tests/website/test_incremental.py makes
each kind of change and checks that the site follows.

Three columns of a round are written by the publish itself (when its commitment was first
published, and when it was revealed): they count by what the pages show of them, the label of
the first publication and whether the round is revealed now, so recording them changes no
fingerprint, while a round whose check window has closed since the last publish changes its
own (and is revealed by this one).

A round read again only because findings of its were written is read in part when every
write since the last publish is a row added (:func:`written_since`): the finding tables' ids
only grow, so the rows added are those with an id above the largest there was then (kept in
the publish state, :func:`finding_marks`), and each wrote one row of the change log. Those
rows' findings are read, the others are taken from the round's files
(``website.fragments.completed``). An update, a delete, a sign-off of an earlier version, or
a row committed after one with a larger id is a change log row no such row accounts for: the
round is read whole.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from findings.models import Finding, FindingChange, FindingSignoff, FindingVersion
from registry.models import Enterprise, RegistryChange
from rounds.models import Assignment, Round, Selection, TeamChange
from shuangsui.config import Settings
from website.records import RoundRow

SCHEMA = 4  # of the fingerprints and parts: a new one makes the next publish a full one
# the packages of pyproject.toml; any change to their files (code, templates, data) counts
PACKAGES = (
    "shuangsui", "registry", "draw", "rounds", "tasks", "flows", "notifications", "findings",
    "api", "website", "exchange", "workspace", "risk", "leads", "joint",
)  # fmt: skip
SOURCE_SUFFIXES = {".py", ".j2", ".css", ".csv", ".json", ".yaml", ".html", ".txt"}
# written by publish itself; stood for by what the pages show of them (see above)
PUBLISH_WRITES = ("commitment_published_at", "commitment_published_before_draw", "revealed_at")

_FC = FindingChange.__table__  # type: ignore[attr-defined]
_SEL, _A = Selection.__table__, Assignment.__table__  # type: ignore[attr-defined]
_TC = TeamChange.__table__  # type: ignore[attr-defined]
_E, _RC = Enterprise.__table__, RegistryChange.__table__  # type: ignore[attr-defined]
_F, _FV = Finding.__table__, FindingVersion.__table__  # type: ignore[attr-defined]
_S = FindingSignoff.__table__  # type: ignore[attr-defined]
_R = Round.__table__  # type: ignore[attr-defined]


def digest(value: Any) -> str:
    body = json.dumps(value, default=str, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@cache
def code_version() -> str:
    """SHA-256 over this program's files (per package, by path) and the renderers' versions."""
    h = hashlib.sha256()
    for name in PACKAGES:
        spec = importlib.util.find_spec(name)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            root = Path(folder)
            for path in sorted(root.rglob("*")):
                if path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts:
                    rel = f"{name}/{path.relative_to(root).as_posix()}".encode()
                    data = path.read_bytes()
                    h.update(len(rel).to_bytes(4, "big") + rel + len(data).to_bytes(8, "big"))
                    h.update(data)
    versions = [platform.python_version(), *(metadata.version(d) for d in ("jinja2", "markupsafe"))]
    h.update(json.dumps(versions).encode())
    return h.hexdigest()


def context(settings: Settings, bundles: bool) -> list[Any]:
    """What every page depends on besides the database."""
    return [
        SCHEMA,
        code_version(),
        settings.bureau_code,
        settings.bureau_name,
        settings.site_base_url,
        settings.timezone,
        bundles,
    ]


def round_head(row: RoundRow, first_published: str) -> list[Any]:
    """The round as its pages depend on it, apart from its results."""
    columns = {k: v for k, v in row.row.items() if k not in PUBLISH_WRITES}
    return [columns, row.item_name, row.revealed, first_published]


def _registry(conn: sa.Connection) -> list[Any]:
    """The enterprises' fingerprint: how many, the latest change, the last history row."""
    q = sa.select(sa.func.count(), sa.func.max(_E.c.updated_at))
    return [*conn.execute(q).one(), conn.execute(sa.select(sa.func.max(_RC.c.seq))).scalar()]


def finding_changes(conn: sa.Connection, round_keys: Sequence[str]) -> dict[str, tuple[int, int]]:
    """The count and the largest id of each round's rows in ``finding_change`` (rounds with
    none left out). Equal at two moments: no finding of those rounds was written, by shuangsui
    or by hand, between them (the database's triggers log every write, the count catches an id
    taken early and committed late)."""
    return {key: (count, top) for key, count, top in _changes_of(conn, round_keys)}


def _changes_of(
    conn: sa.Connection, round_keys: Sequence[str], *also: sa.ScalarSelect[Any]
) -> list[sa.Row]:
    """Each of ``round_keys`` with a change: its key, its rows in ``finding_change`` counted and
    their largest id (:func:`counted`, from the round's row: a grouped scan of the rows took
    four times as long, 0.83 ms against 0.22 for a round of 8,000 on SQLite), then ``also``."""
    key = _R.c.round_key
    q = sa.select(key, *counted(_FC, key, _FC.c.id), *also).where(key.in_(list(round_keys)))
    return [row for row in conn.execute(q) if row[1]]


def finding_marks(
    conn: sa.Connection, round_keys: Sequence[str]
) -> tuple[dict[str, tuple[int, int]], list[int] | None]:
    """:func:`finding_changes`, and the largest ids of ``finding`` and ``finding_version``
    (of every round), in one statement: as they were together (None when none of the rounds
    has a change)."""
    tops = (
        sa.select(sa.func.coalesce(sa.func.max(_F.c.id), 0)).scalar_subquery(),
        sa.select(sa.func.coalesce(sa.func.max(_FV.c.id), 0)).scalar_subquery(),
    )
    rows = _changes_of(conn, round_keys, *tops)
    changes = {key: (count, top) for key, count, top, *_ in rows}
    return changes, [rows[0][3], rows[0][4]] if rows else None


def written_since(
    conn: sa.Connection, round_key: str, then: Sequence[int], tops: Sequence[int], now: int
) -> set[str] | None:
    """The credit codes of the round's findings written since its change log counted ``then``
    (count, largest id) and the finding tables' largest ids were ``tops`` (finding, version),
    if every change the log holds since is a row added: a finding or a version with an id
    above those, or a sign-off of such a version (each one row of the log). None otherwise,
    and when the log no longer counts ``now`` (it is read in one statement with the rows: a
    write between two reads would be counted in one and not the other)."""
    in_round = _F.c.round_key == round_key
    added = (
        sa.select(sa.literal(1), _F.c.credit_code).where(in_round, _F.c.id > tops[0]),
        sa.select(sa.literal(1), _F.c.credit_code)
        .join(_FV, _FV.c.finding_id == _F.c.id)
        .where(in_round, _FV.c.id > tops[1]),
        sa.select(sa.literal(1), _F.c.credit_code)
        .join(_FV, _FV.c.finding_id == _F.c.id)
        .join(_S, _S.c.version_id == _FV.c.id)
        .where(in_round, _FV.c.id > tops[1]),
    )
    logged = sa.select(sa.literal(0), sa.cast(sa.func.count(), sa.String)).where(
        _FC.c.round_key == round_key
    )
    rows = conn.execute(sa.union_all(logged, *added)).all()
    codes = [code for kind, code in rows if kind == 1]
    count = int(next(code for kind, code in rows if kind == 0))
    if count != now or len(codes) != count - then[0]:
        return None
    return set(codes)


def per_round(table: sa.Table, top: sa.ColumnElement[Any] | None = None) -> sa.Select:
    """Each round holding rows of ``table``: its key, how many rows it holds (and the largest
    ``top`` of them), in key order, as ``GROUP BY round_key`` gives them, read a round at a
    time on the index ``round_key`` leads: the next key is the smallest above the last (a
    seek), the round's rows are counted on the index between two keys. The grouped scan
    walked the same index entries at about three times the cost, an aggregate step and a
    key comparison an entry (on SQLite, ``finding_change``'s 80,000 rows: 6.6 ms against
    2.3; ``assignment``'s 40,000: 2.0 against 1.2)."""
    key = table.c.round_key
    keys = sa.select(sa.func.min(key).label("key")).cte("round_keys", recursive=True)
    keys = keys.union_all(
        sa.select(sa.select(sa.func.min(key)).where(key > keys.c.key).scalar_subquery()).where(
            keys.c.key.is_not(None)
        )
    )
    return sa.select(keys.c.key, *counted(table, keys.c.key, top)).where(keys.c.key.is_not(None))


def counted(
    table: sa.Table, key: sa.ColumnElement[Any], top: sa.ColumnElement[Any] | None = None
) -> list[sa.ScalarSelect[Any]]:
    """The rows of ``table`` whose round is ``key`` (a column of the statement these are put
    in) counted (and their largest ``top``), each on the index ``round_key`` leads, between
    two keys."""
    aggregates = [sa.func.count()] + ([sa.func.max(top)] if top is not None else [])
    return [
        sa.select(aggregate).select_from(table).where(table.c.round_key == key).scalar_subquery()
        for aggregate in aggregates
    ]


# what :func:`fingerprints` counts by round (the statements made once): the draws' rows, the
# team changes, and the findings' changes with their largest id
_COUNTS = (per_round(_SEL), per_round(_A), per_round(_TC), per_round(_FC, _FC.c.id))


@dataclass(frozen=True)
class Counts:
    """What :func:`fingerprints` reads of the database: the counts by round of
    :data:`_COUNTS`' tables, and the enterprises' fingerprint."""

    groups: list[dict[str, list[Any]]]
    registry: list[Any]


def counts(conn: sa.Connection) -> Counts:
    """The counts by round (:func:`per_round`, one read of each table's index) and the
    registry's fingerprint, for :func:`fingerprints`."""
    groups = [{key: list(rest) for key, *rest in conn.execute(query)} for query in _COUNTS]
    return Counts(groups, _registry(conn))


def fingerprints(
    counted: Counts, rows: Sequence[RoundRow], first: Mapping[str, str], ctx: list[Any]
) -> tuple[str, dict[str, str], dict[str, str]]:
    """One fingerprint of everything the site shows (equal: nothing need be published), and
    one per round of all its pages and files show (equal: its files and part are the previous
    publish's), from one read of the counts by round (:func:`counts`: a publish that puts a
    commitment on the site first takes its fingerprints again, with the moment the pages then
    say, from the same read). The site's takes every group, those of any round not public
    included: it changes with any count of the tables. Third, each round's fingerprint apart
    from its findings (equal: only findings of its were written, :func:`written_since`)."""
    groups, registry = counted.groups, counted.registry
    heads = {r.key: round_head(r, first[r.key]) for r in rows}
    site = digest([ctx, list(heads.values()), [sorted(g.items()) for g in groups], registry])
    rounds = {
        key: digest([ctx, head, [g.get(key) for g in groups], registry])
        for key, head in heads.items()
    }
    settled = {
        key: digest([ctx, head, [g.get(key) for g in groups[:-1]], registry])
        for key, head in heads.items()
    }
    return site, rounds, settled
