"""A round's share of the files that span every round, kept between publishes.

``data/results.json``, ``data/results.csv``, ``data/search-index.json``, ``data/rounds.json``
and the index page are the rounds' shares joined in round order. A round's JSON records and
CSV rows are those of its own ``data/<round>.json`` and ``data/<round>.csv`` (whose SHA-256
the site manifest checks), held as slices of them and read again when the files spanning
every round are written: a publish holds no round's records to the end. A round whose inputs
have not changed since the last publish (``website.inputs``) is not read from the database
again: its search entries and counts are kept in ``.parts/<round>.json`` beside its files
(also checked against the manifest), with where each result's pieces are in its files
(``website.fragments``), for when it is read again, and what its inputs were apart from its
findings and where its findings stood (``website.inputs``), for when only findings of its
were written since.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from website import opendata
from website.fragments import Pieces
from website.model import PublicRound
from website.opendata import Piece

PENDING = "结果待公示"  # the result label of an enterprise with no final result yet
FOLDER = ".parts"
VERSION = 5  # of the .parts files: one of another is not used


@dataclass(frozen=True)
class RoundPart:
    # the round's results' JSON records and CSV rows (website.fragments.Pieces, joined); once
    # its own data files are written (or kept), slices of them, read again when the files
    # spanning every round are written
    json_records: Piece
    csv_rows: Piece
    search_entries: bytes  # opendata.search_entries
    shown: int  # enterprises listed
    published: int  # of which with a final result
    labels: dict[str, int]  # result label (PENDING while none) -> enterprises
    divisions: dict[str, int]  # division code -> enterprises with a final result
    # where each result's pieces are in the round's files (website.fragments.index); None
    # for a part kept from the last publish, whose .parts file stays as it is
    pieces: dict[str, Any] | None = None

    def summary(self, since: dict[str, Any]) -> bytes:
        """The ``.parts`` file: what the round's own files do not hold, as three lines of
        JSON: the counts and what the round was read at (``since``: its fingerprint apart from
        its findings, and the findings' ``website.inputs.Marks``); where the pieces are, a
        line of its own, decoded only when the round is read again (:func:`pieces_of`); then
        the search entries, an array taken as its bytes when read, never decoded (the encoder
        escapes every newline in them)."""
        doc = {
            "v": VERSION,
            "since": since,
            "shown": self.shown,
            "published": self.published,
            "labels": self.labels,
            "divisions": self.divisions,
        }
        head = json.dumps(doc, sort_keys=True).encode()
        pieces = json.dumps(self.pieces, sort_keys=True).encode()
        return head + b"\n" + pieces + b"\n[" + self.search_entries + b"]\n"


def part_of(rnd: PublicRound, pieces: Pieces) -> RoundPart:
    """The part of a round read again, its results' ``pieces`` made."""
    results = rnd.results
    return RoundPart(
        json_records=",\n".join(pieces.records).encode("utf-8"),
        csv_rows="".join(pieces.csv_lines).encode("utf-8"),
        search_entries=opendata.search_entries(results),
        shown=len(results),
        published=sum(1 for r in results if r.result),
        labels=dict(Counter(r.result_label or PENDING for r in results)),
        divisions=dict(Counter(r.division_code for r in results if r.result)),
    )


def content_digest(rnd: PublicRound, part: RoundPart) -> str:
    """What the round's page and files are made of: unchanged digest, unchanged files. The
    round's own fields, then its results as their JSON records (which hold every field of a
    result but its stratum, the texts of measures and certificates being made from them) and
    their strata: one encoding of the results serves both the files and this digest."""
    if isinstance(part.json_records, opendata.FileSlice):
        raise TypeError("a round's content digest is made of its records as just read")
    h = hashlib.sha256(replace(rnd, results=[]).digest().encode())
    h.update(part.json_records)
    h.update("\n".join(r.stratum for r in rnd.results).encode("utf-8"))
    return h.hexdigest()


def part_from_files(
    json_file: tuple[str, int], csv_file: tuple[str, int], summary: bytes
) -> RoundPart:
    """The part a previous publish left: the round's two data files (path and size, their
    bytes those the manifest lists) and its summary. ``ValueError`` if the summary is not
    what this version writes."""
    doc, search_entries = summary_of(summary)
    return RoundPart(
        json_records=opendata.json_records_of(*json_file),
        csv_rows=opendata.csv_rows_of(*csv_file),
        search_entries=search_entries,
        shown=int(doc["shown"]),
        published=int(doc["published"]),
        labels={str(k): int(v) for k, v in doc["labels"].items()},
        divisions={str(k): int(v) for k, v in doc["divisions"].items()},
    )


def summary_of(data: bytes) -> tuple[dict[str, Any], bytes]:
    """A ``.parts`` file's content and search entries (:meth:`RoundPart.summary`), where the
    pieces are left undecoded; ``ValueError`` if this version did not write it."""
    head, _, rest = data.partition(b"\n")
    doc = json.loads(head)
    entries = rest.partition(b"\n")[2]
    if not isinstance(doc, dict) or doc.get("v") != VERSION or not entries.endswith(b"]\n"):
        raise ValueError("not a round part of this version")
    return doc, entries[1:-2]


def pieces_of(data: bytes) -> Any:
    """Where a ``.parts`` file says the round's pieces are (``website.fragments.index``, None
    if it says nothing); ``ValueError`` if this version did not write it."""
    summary_of(data)
    return json.loads(data.split(b"\n", 2)[1])


def on_disk(part: RoundPart, json_rel: str, csv_rel: str) -> RoundPart:
    """``part`` once the round's data files hold its records and rows: slices of them."""
    return replace(
        part,
        json_records=opendata.json_records_in(json_rel, part.json_records),
        csv_rows=opendata.csv_rows_in(csv_rel, part.csv_rows),
    )
