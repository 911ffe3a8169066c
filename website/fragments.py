"""A round's results as pieces of its files, one per result, taken again from the last publish.

A round is read again when anything of it changed, often one result of thousands. Each
result's CSV row and its row on the round page are made from its JSON record (which holds
every field of a result those show) and from the round's head (its plan says why a firm was
targeted), by this program. So a result whose record is the one the last publish wrote, in
a round whose head and program are the ones it was rendered with (:func:`made_with`), has the
same CSV row and page row as then: they are taken from the last publish's files, and only the
other results are encoded and rendered (``website.render.round_pieces``).

Where the last publish's pieces are: the records one a line in ``data/<round>.json``; the CSV
rows one after the other in ``data/<round>.csv`` (their lengths in the round's part); the page
rows in ``rounds/<round>/index.html``, where each begins and how long it is (in the part, in
characters of the page's text). ``website.output.Output.pieces`` takes them only from files
whose SHA-256 is the one the manifest lists, the part included: a file edited or truncated on
disk is not used, and the round is rendered whole.

A round read again only because some of its findings were written (``website.inputs``) reads
those results alone; the others are the results its records and strata (kept in its part)
were made from (:func:`completed`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from website import opendata
from website.model import PublicResult, PublicRound

ROW_START = '<tr id="e-'  # every page row begins so; an escaped text never holds a "<"


@dataclass(frozen=True)
class Pieces:
    """The round's results' pieces of its files, in the round's order of results."""

    records: list[str]  # JSON records (opendata.record_texts)
    csv_lines: list[str]  # CSV rows (opendata.csv_lines)
    page_rows: list[str]  # rows of the round page (website.render.page_rows)


@dataclass(frozen=True)
class Kept:
    """The last publish's pieces of a round: its ``index`` (for the part) and, by JSON record,
    the CSV row and the page row of that record."""

    index: dict[str, Any]
    by_record: dict[str, tuple[str, str]]
    records: list[str]  # the JSON records, in the round's order
    decoded: list[dict[str, Any]]  # and decoded


def made_with(rnd: PublicRound, code_version: str) -> str:
    """What a round's pieces depend on besides their records: the round's head (every field
    but its results) and this program."""
    head = replace(rnd, results=[]).digest()
    return hashlib.sha256(f"{code_version}\n{head}".encode()).hexdigest()


def index(
    made: str,
    pieces: Pieces,
    groups: Sequence[Sequence[int]],
    page: str,
    strata: Sequence[str],
) -> dict[str, Any]:
    """Where the pieces are in the round's files, for its part: the CSV rows' lengths, and
    where each page row begins in ``page`` (the page's text) and its length, by result; and
    each result's stratum, which its record does not hold. ``groups``: the results by county
    as the page lists them, each county's rows one after the other
    (``website.render.page_groups``)."""
    rows = pieces.page_rows
    starts = [0] * len(rows)
    at = 0
    for members in groups:
        at = page.index(rows[members[0]], at)
        for i in members:
            if not page.startswith(rows[i], at):
                raise ValueError("the page does not list a county's rows one after the other")
            starts[i] = at
            at += len(rows[i])
    return {
        "made_with": made,
        "csv": [len(line) for line in pieces.csv_lines],
        "page": starts,
        "page_lengths": [len(row) for row in pieces.page_rows],
        "strata": list(strata),
    }


def kept(index: Mapping[str, Any], json_file: bytes, csv_file: bytes, page: bytes) -> Kept:
    """The pieces the round's files hold, by record (``index``: :func:`index` of these files).
    ``ValueError`` if the files and the index do not agree."""
    records, decoded = opendata.records_in(json_file)
    text = opendata.csv_text(csv_file)
    lines, at = [], 0
    for n in index["csv"]:
        lines.append(text[at : at + n])
        at += n
    page_text = page.decode("utf-8")
    rows = [page_text[s : s + n] for s, n in zip(index["page"], index["page_lengths"], strict=True)]
    strata = index["strata"]
    if not len(records) == len(lines) == len(rows) == len(strata) or at != len(text):
        raise ValueError("the round's files do not hold the pieces its part lists")
    if not all(row.startswith(ROW_START) and row.endswith("</tr>\n") for row in rows):
        raise ValueError("the round's page does not hold the rows its part lists")
    if len(decoded) != len(records):
        raise ValueError("the round's JSON file does not hold one record a line")
    # each piece is its record's: an index whose rows or lengths were moved (the part and
    # the manifest rewritten to match) puts one firm's row under another's record
    for doc, line, row in zip(decoded, lines, rows, strict=True):
        code = doc["credit_code"]
        if not (row.startswith(f'{ROW_START}{code}">') and f",{code}," in line
                and line.endswith("\r\n")):  # fmt: skip
            raise ValueError(f"the round's pieces listed for {code} are not that firm's")
    by_record = dict(zip(records, zip(lines, rows, strict=True), strict=True))
    return Kept(dict(index), by_record, records, decoded)


def completed(
    kept: Kept, fresh: Sequence[PublicResult], codes: set[str]
) -> tuple[list[PublicResult], list[str]] | None:
    """The round's results and their JSON records: those of ``codes`` as just read
    (``fresh``), every other one the result its record and stratum in the last publish's files
    were made from (``opendata.result_of``), in the round's order. None if the two do not fit
    together: a firm of ``codes`` listed now and not then, or then and not now (a round not
    revealed lists only the firms with a final result)."""
    now = {r.credit_code: r for r in fresh}
    results, records = [], []
    for text, record, stratum in zip(kept.records, kept.decoded, kept.index["strata"],
                                     strict=True):  # fmt: skip
        code = record["credit_code"]
        if code not in codes:
            results.append(opendata.result_of(record, stratum))
            records.append(text)
        elif code in now:
            results.append(now.pop(code))
            records.append(opendata.record_texts([results[-1]])[0])
        else:
            return None
    return None if now else (results, records)
