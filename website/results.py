"""The rounds' results as the public site shows them, read as rows.

Two Core selects of plain columns (publications, and the final versions: :func:`final`) and
one of the drawn enterprises; each enterprise becomes one :class:`PublicResult` (a named tuple)
straight from its rows, with no record or state object per result or per version between them.
Which version is public follows ``findings.state``: the highest-numbered final one (every member
of the team has signed it).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
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


def read_versions(
    conn: sa.Connection,
    round_keys: Sequence[str],
    timezone: str,
    only: Mapping[str, Collection[str]] | None = None,
) -> dict[tuple[str, str], Shown]:
    """(round key, credit code) -> what is shown of its finding, for each enterprise of the
    rounds with a final version (the others have none in the result); of a round in ``only``,
    for those of its credit codes only (``shuangsui.db.of_rounds``).

    Only the final versions are read (:func:`final`: the database tests each version against
    its team's sign-offs beside the rows it reads). The moments of the sign-offs (timestamps,
    text to parse on SQLite) are read only for the versions of a result with a correction
    history, the one place a version's final day is shown. The JSON columns come as their
    text, decoded only when not an empty list."""
    keys = list(round_keys)
    in_rounds = of_rounds(_F.c.round_key, _F.c.credit_code, keys, only)
    pq = sa.select(_P.c.version_id).join(_F, _F.c.id == _P.c.finding_id).where(in_rounds)
    published = set(conn.scalars(pq))
    fv = _FV.c
    columns = (_F.c.round_key, _F.c.credit_code, fv.id, fv.finding_id, fv.version,
               sa.type_coerce(fv.result, sa.String), sa.cast(fv.check_date, sa.Text),
               fv.description, sa.cast(fv.certificates, sa.Text), sa.cast(fv.measures, sa.Text),
               fv.reason)  # fmt: skip
    vq = (
        sa.select(*columns)  # the JSON lists as their text (``_listed``), the date as ISO text
        .join(_F, _F.c.id == fv.finding_id)
        .where(in_rounds, final())
        .order_by(_F.c.round_key, _F.c.credit_code, fv.version)
    )
    finals: dict[tuple[str, str], list[Version]] = {}
    rows = driver_rows(conn, vq)  # tuples, unpacked (text and integers: no type converts)
    for rk, code, vid, fid, number, result, day, text, certificates, measures, reason in rows:
        version = Version(vid, fid, number, result, date.fromisoformat(day), text,
                          _listed(certificates), _listed(measures), reason, "")  # fmt: skip
        versions = finals.get((rk, code))
        if versions is None:  # (most: one final version, no list made and let go each)
            finals[rk, code] = [version]
        else:
            versions.append(version)
    corrected = {key: versions for key, versions in finals.items() if len(versions) > 1}
    finals.update(_with_final_days(conn, corrected, ZoneInfo(timezone)))
    return {
        key: Shown(versions[-1], versions, versions[-1].id in published)
        for key, versions in finals.items()
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


def _with_final_days(
    conn: sa.Connection, histories: dict[tuple[str, str], list[Version]], tz: ZoneInfo
) -> dict[tuple[str, str], list[Version]]:
    """The final versions of each result with a correction history, each with the day it
    became final (``findings.state.final_moment``: its team's last signature; a final
    version's team has every member's signature, read here with the member's assignment)."""
    ids = [v.id for versions in histories.values() for v in versions]
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

    def day(version: Version) -> str:
        team = moments[version.id]  # its team's signatures
        moment = final_moment(team, team)
        return moment.astimezone(tz).date().isoformat() if moment else ""

    return {
        key: [v._replace(final_on=day(v)) for v in versions] for key, versions in histories.items()
    }


def newly_published(key: tuple[str, str], shown: Shown, check_item: str) -> NewlyPublished:
    """The public version of ``key`` (round key, credit code) as it is recorded published."""
    pub = shown.public
    return NewlyPublished(pub.id, pub.finding_id, *key, check_item, pub.check_date, pub.result,
                          pub.description)  # fmt: skip


def read_drawn(
    conn: sa.Connection,
    round_keys: Sequence[str],
    only: Mapping[str, Collection[str]] | None = None,
) -> list[tuple[str, ...]]:
    """(round key, credit code, stratum, selection, name, division code) of each enterprise
    drawn in the rounds (of a round in ``only``, of those credit codes), by round and code
    (name and division "" when not in the registry)."""
    q = (
        sa.select(
            _SEL.c.round_key,
            _SEL.c.credit_code,
            _SEL.c.stratum,
            _SEL.c.kind,
            sa.func.coalesce(_ENT.c.name, ""),
            sa.func.coalesce(_ENT.c.division_code, ""),
        )
        .join(_ENT, _ENT.c.credit_code == _SEL.c.credit_code, isouter=True)
        .where(of_rounds(_SEL.c.round_key, _SEL.c.credit_code, list(round_keys), only))
        .order_by(_SEL.c.round_key, _SEL.c.credit_code)
    )
    return driver_rows(conn, q)  # (text only)


def public_result(
    drawn: tuple[str, ...], shown: Shown | None, check_item: str, division_names: dict[str, str]
) -> PublicResult:
    """One enterprise on the site: its drawn row and its public version, if any (the fields
    given in order: twenty thousand a full publish)."""
    round_key, code, stratum, selection, name, division = drawn
    county = division_names.get(division, "")
    if shown is None:  # no final version yet
        return PublicResult(round_key, code, name, division, county, stratum, selection,
                            check_item, "", "", "")  # fmt: skip
    pub = shown.public
    return PublicResult(
        round_key, code, name, division, county, stratum, selection, check_item,
        pub.check_date.isoformat(), pub.result, _RESULT[pub.result],
        _measures(pub.measures) if pub.measures else NONE,
        _certificates(pub.certificates) if pub.certificates else NONE,
        pub.description, pub.version,
        _history(shown.history) if len(shown.history) > 1 else NONE,
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
