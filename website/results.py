"""The rounds' results as the public site shows them, read as rows.

One Core select of plain columns reads each drawn enterprise with its final versions
(:func:`read_listed`); each enterprise becomes one :class:`PublicResult` (a named tuple)
straight from its first row, with no record or state object per result or per version between
them. Which version is public follows ``findings.state``: the highest-numbered final one (every
member of the team has signed it).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from itertools import pairwise
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from findings.categories import ACTION_LABELS, MEASURE_LABELS, RESULT_LABELS
from findings.models import Finding, FindingSignoff, FindingVersion, PublishedResult
from findings.state import final_moment
from registry.divisions import divisions
from registry.models import Enterprise
from rounds.models import Assignment, Selection
from shuangsui.db import driver_rows, of_rounds
from website.model import Correction, PublicResult

_A = Assignment.__table__  # type: ignore[attr-defined]
_S = FindingSignoff.__table__  # type: ignore[attr-defined]
_P = PublishedResult.__table__  # type: ignore[attr-defined]
_F = Finding.__table__  # type: ignore[attr-defined]
_FV = FindingVersion.__table__  # type: ignore[attr-defined]
_SEL = Selection.__table__  # type: ignore[attr-defined]
_ENT = Enterprise.__table__  # type: ignore[attr-defined]

# the labels by the categories' values (a StrEnum member is equal to its value)
_RESULT = {str(k): v for k, v in RESULT_LABELS.items()}
_MEASURE = {str(k): v for k, v in MEASURE_LABELS.items()}
_ACTION = {str(k): v for k, v in ACTION_LABELS.items()}


# the measures, certificates or history of a result that has none: one list shared by every
# such result, never changed (as the defaults of PublicResult), not three new ones each
NONE: list[Any] = []


# positions in a row of :func:`read_listed`
CODE, VERSION_ID, PUBLISHED = 1, 6, 15


class Version(NamedTuple):
    """A final version as read: the columns the site shows of it."""

    id: int
    finding_id: int
    version: int
    result: str
    check_date: Any  # date
    description: str
    certificates: list[dict[str, Any]]
    measures: list[dict[str, Any]]
    reason: str
    # the day it became final (ISO, in the bureau's time zone), shown only in a correction
    # history: read for the versions of a result with more than one final version, else ""
    final_on: str


class NewlyPublished(NamedTuple):
    """A shown version not yet recorded as published, as the publish read it: what
    ``published_result`` records of it, and what the after-record hooks (the partner log's
    ``result`` and ``correction`` entries) share of it, without reading it again."""

    version_id: int
    finding_id: int
    round_key: str
    credit_code: str
    check_item: str  # the round's check item code
    check_date: Any  # date
    result: str
    description: str
    # another version of its finding was recorded as published before: this one corrects it
    # (looked up where it is recorded, in that transaction: ``website.site._record``)
    corrects: bool = False


class Shown(NamedTuple):
    """An enterprise's public version (its latest final one) and every final version (a
    correction history when there are more than one)."""

    public: Version
    history: list[Version]
    published: bool  # the public version is recorded as published


def read_listed(
    conn: sa.Connection,
    round_keys: Sequence[str],
    only: Mapping[str, Collection[str]] | None = None,
) -> list[tuple[Any, ...]]:
    """Each enterprise drawn in the rounds (of a round in ``only``, of those credit codes), by
    round and credit code: one row per final version of its finding, the highest-numbered
    (the public one) first, or one row with no version when it has none. A row: (round key,
    credit code, stratum, selection, name, division code; of the version: id, finding id,
    number, result, check date as ISO text, description, certificates and measures as their
    JSON text, reason; its id again if it is recorded as published, else None). Name and
    division are "" when the enterprise is not in the registry.

    Only final versions are joined (:func:`final`: the database tests each version against
    its team's sign-offs beside the rows it reads). One statement, where the drawn list and
    the final versions read apart were each made into rows and matched by key in Python:
    ~40 ms more of a full publish at 20,000 results."""
    fv, f, sel, ent = _FV.c, _F.c, _SEL.c, _ENT.c
    columns = (sel.round_key, sel.credit_code, sel.stratum, sel.kind,
               sa.func.coalesce(ent.name, ""), sa.func.coalesce(ent.division_code, ""),
               fv.id, fv.finding_id, fv.version, sa.type_coerce(fv.result, sa.String),
               sa.cast(fv.check_date, sa.Text), fv.description, sa.cast(fv.certificates, sa.Text),
               sa.cast(fv.measures, sa.Text), fv.reason, _P.c.version_id)  # fmt: skip
    q = (
        sa.select(*columns)
        .select_from(_SEL)
        .join(_ENT, ent.credit_code == sel.credit_code, isouter=True)
        .join(
            _F,
            sa.and_(f.round_key == sel.round_key, f.credit_code == sel.credit_code),
            isouter=True,
        )
        .join(_FV, sa.and_(fv.finding_id == f.id, final()), isouter=True)
        .join(_P, _P.c.version_id == fv.id, isouter=True)
        .where(of_rounds(sel.round_key, sel.credit_code, list(round_keys), only))
        .order_by(sel.round_key, sel.credit_code, fv.version.desc())
    )
    return driver_rows(conn, q)  # tuples (text and integers: no type converts)


def read_versions(
    conn: sa.Connection,
    round_keys: Sequence[str],
    timezone: str,
    only: Mapping[str, Collection[str]] | None = None,
) -> dict[tuple[str, str], Shown]:
    """(round key, credit code) -> what is shown of its finding, for each enterprise of the
    rounds with a final version (the others have none in the result), as :func:`read_listed`
    reads them (the publish lists its results from those rows themselves)."""
    rows = read_listed(conn, round_keys, only)
    histories = read_histories(conn, rows, ZoneInfo(timezone))
    shown: dict[tuple[str, str], Shown] = {}
    for row in rows:
        key = (row[0], row[CODE])
        if row[VERSION_ID] is not None and key not in shown:  # its public version
            versions = histories.get(row[VERSION_ID]) or [_version(row)]
            shown[key] = Shown(versions[-1], versions, row[PUBLISHED] is not None)
    return shown


def _version(row: tuple[Any, ...], final_on: str = "") -> Version:
    vid, fid, number, result, day, text, certificates, measures, reason = row[VERSION_ID:PUBLISHED]
    return Version(vid, fid, number, result, date.fromisoformat(day), text,
                   _listed(certificates), _listed(measures), reason, final_on)  # fmt: skip


def read_histories(
    conn: sa.Connection, rows: Sequence[tuple[Any, ...]], tz: ZoneInfo
) -> dict[int, list[Version]]:
    """The public version's id -> every final version, oldest first, of each enterprise of
    ``rows`` (:func:`read_listed`'s) with more than one final version (a correction history),
    each with the day it became final."""
    firms: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for before, row in pairwise(rows):
        if row[CODE] == before[CODE] and row[0] == before[0]:  # an earlier final version
            firms.setdefault((row[0], row[CODE]), [before]).append(row)
    days = _final_days(conn, [row[VERSION_ID] for versions in firms.values() for row in versions],
                       tz)  # fmt: skip
    return {
        versions[0][VERSION_ID]: [_version(row, days[row[VERSION_ID]]) for row in versions[::-1]]
        for versions in firms.values()
    }


def final() -> sa.ColumnElement[bool]:
    """``findings.state.is_final`` as SQL, of each ``finding_version`` row read with its
    ``finding``: the firm has a team in the round, and no member of the team has not signed
    the version. The database tests it beside the rows it reads (a version's team and
    sign-offs found by their primary keys), where reading every assignment and sign-off of
    the rounds to test it in Python was half a publish's reading at 20,000 results."""
    member = _A.alias("member")
    of_team = sa.and_(member.c.round_key == _F.c.round_key,
                      member.c.credit_code == _F.c.credit_code)  # fmt: skip
    signed = (
        sa.select(_S.c.version_id)
        .where(_S.c.version_id == _FV.c.id, _S.c.inspector_id == member.c.inspector_id)
        .correlate_except(_S)
    )
    has_team = sa.select(member.c.inspector_id).where(of_team).exists()
    not_signed = sa.select(member.c.inspector_id).where(of_team, ~signed.exists()).exists()
    return sa.and_(has_team, ~not_signed)


def _listed(text: str) -> list[dict[str, Any]]:
    """A JSON list column read as text: the shared empty list for "[]" (most results)."""
    return NONE if text == "[]" else json.loads(text)  # type: ignore[no-any-return]


def _final_days(conn: sa.Connection, ids: list[int], tz: ZoneInfo) -> dict[int, str]:
    """The day each final version of ``ids`` became final (``findings.state.final_moment``:
    its team's last signature; a final version's team has every member's signature, read here
    with the member's assignment)."""
    moments: dict[int, dict[str, datetime]] = {}
    member = sa.and_(_A.c.round_key == _F.c.round_key, _A.c.credit_code == _F.c.credit_code,
                     _A.c.inspector_id == _S.c.inspector_id)  # fmt: skip
    for start in range(0, len(ids), 1000):
        q = (
            sa.select(_S.c.version_id, _S.c.inspector_id, _S.c.signed_at)
            .join(_FV, _FV.c.id == _S.c.version_id)
            .join(_F, _F.c.id == _FV.c.finding_id)
            .join(_A, member)
            .where(_S.c.version_id.in_(ids[start : start + 1000]))
        )
        for vid, inspector, at in conn.execute(q):
            moments.setdefault(vid, {})[inspector] = at

    def day(team: dict[str, datetime]) -> str:  # its team's signatures
        moment = final_moment(team, team)
        return moment.astimezone(tz).date().isoformat() if moment else ""

    return {vid: day(moments[vid]) for vid in ids}


def newly_published(row: tuple[Any, ...], check_item: str) -> NewlyPublished:
    """The public version of a row of :func:`read_listed` as it is recorded published."""
    vid, fid, _number, result, day, text = row[VERSION_ID:12]
    return NewlyPublished(vid, fid, row[0], row[CODE], check_item, date.fromisoformat(day),
                          result, text)  # fmt: skip


def public_result(
    row: tuple[Any, ...],
    check_item: str,
    division_names: dict[str, str],
    history: list[Version] | None = None,
) -> PublicResult:
    """One enterprise on the site: the first of its rows of :func:`read_listed` (its public
    version, if any), and its correction history (:func:`read_histories`), if it has one
    (the fields given in order: twenty thousand a full publish)."""
    (round_key, code, stratum, selection, name, division, vid, _fid, number, result, day, text,
     certificates, measures) = row[:14]  # fmt: skip
    county = division_names.get(division, "")
    if vid is None:  # no final version yet
        return PublicResult(round_key, code, name, division, county, stratum, selection,
                            check_item, "", "", "")  # fmt: skip
    measures, certificates = _listed(measures), _listed(certificates)
    return PublicResult(
        round_key, code, name, division, county, stratum, selection, check_item,
        day, result, _RESULT[result],
        _measures(measures) if measures else NONE,
        _certificates(certificates) if certificates else NONE,
        text, number,
        _history(history) if history else NONE,
    )  # fmt: skip


def _measures(measures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"kind": m["kind"], "label": _MEASURE[m["kind"]], "deadline": m.get("deadline") or ""}
        for m in measures
    ]


def _certificates(certificates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"body": c["body"], "number": c["number"], "action": c["action"],
         "label": _ACTION[c["action"]]}
        for c in certificates
    ]  # fmt: skip


def _history(versions: list[Version]) -> list[Correction]:
    return [Correction(v.version, v.final_on, v.reason, v.result, _RESULT[v.result])
            for v in versions]  # fmt: skip


def division_names(codes: set[str]) -> dict[str, str]:
    """Each known division code's name (unknown codes are left out)."""
    table = divisions()
    return {code: table.name(code) for code in codes if code and table.is_known(code)}
