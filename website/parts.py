"""A round's share of the files that span every round, kept between publishes.

``data/results.json``, ``data/results.csv``, ``data/search-index.json``, ``data/rounds.json``
and the index page are the rounds' shares joined in round order. A round's JSON records and
CSV rows are those of its own ``data/<round>.json`` and ``data/<round>.csv`` (whose SHA-256
the site manifest checks), held as slices of them and read again when the files spanning
every round are written: a publish holds no round's records to the end. A round whose inputs
have not changed since the last publish (``website.inputs``) is not read from the database
again: its search entries and counts are kept in ``.parts/<round>.json`` beside its files
(also checked against the manifest).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, replace

from website import opendata
from website.model import PublicRound
from website.opendata import Piece

PENDING = "结果待公示"  # the result label of an enterprise with no final result yet
FOLDER = ".parts"


@dataclass(frozen=True)
class RoundPart:
    # opendata.json_records and opendata.csv_rows of the round's results; once its own data
    # files are written (or kept), slices of them, read again when the files spanning every
    # round are written
    json_records: Piece
    csv_rows: Piece
    search_entries: bytes  # opendata.search_entries
    shown: int  # enterprises listed
    published: int  # of which with a final result
    labels: dict[str, int]  # result label (PENDING while none) -> enterprises
    divisions: dict[str, int]  # division code -> enterprises with a final result

    def summary(self) -> bytes:
        """The ``.parts`` file: what the round's own files do not hold."""
        doc = {
            "v": 1,
            "shown": self.shown,
            "published": self.published,
            "labels": self.labels,
            "divisions": self.divisions,
            "search_entries": self.search_entries.decode("utf-8"),
        }
        return json.dumps(doc, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"


def part_of(rnd: PublicRound) -> RoundPart:
    results = rnd.results
    return RoundPart(
        json_records=opendata.json_records(results),
        csv_rows=opendata.csv_rows(results),
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
    json_file: tuple[str, bytes], csv_file: tuple[str, bytes], summary: bytes
) -> RoundPart:
    """The part a previous publish left: the round's two data files (path and bytes) and its
    summary. ``ValueError`` if any of them is not what this version writes."""
    doc = json.loads(summary)
    if not isinstance(doc, dict) or doc.get("v") != 1:
        raise ValueError("not a round part of this version")
    return RoundPart(
        json_records=opendata.json_records_of(*json_file),
        csv_rows=opendata.csv_rows_of(*csv_file),
        search_entries=doc["search_entries"].encode("utf-8"),
        shown=int(doc["shown"]),
        published=int(doc["published"]),
        labels={str(k): int(v) for k, v in doc["labels"].items()},
        divisions={str(k): int(v) for k, v in doc["divisions"].items()},
    )


def on_disk(part: RoundPart, json_rel: str, csv_rel: str) -> RoundPart:
    """``part`` once the round's data files hold its records and rows: slices of them."""
    return replace(
        part,
        json_records=opendata.json_records_in(json_rel, part.json_records),
        csv_rows=opendata.csv_rows_in(csv_rel, part.csv_rows),
    )
