"""Open data: CSV (UTF-8 with BOM) and JSON of the published results, and a DCAT 3 catalogue
(JSON-LD) describing them. Pure functions from the public model to bytes. CSV cells that a
spreadsheet would run as formulas get a ``'`` before them (:mod:`shuangsui.spreadsheet`); the
JSON keeps every name as it is."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, TypeAlias

from shuangsui import spreadsheet
from website.model import Correction, PublicResult, PublicRound, Site

CSV_COLUMNS = (
    "round_key",
    "check_item",
    "credit_code",
    "enterprise_name",
    "division_code",
    "division_name",
    "selection",
    "check_date",
    "result",
    "result_label",
    "measures",
    "certificates",
    "version",
    "corrections",
)


# the attributes of a result that are its CSV row's first twelve cells (CSV_COLUMNS), as they are
_TEXT_COLUMNS = (
    "round_key", "check_item", "credit_code", "name", "division_code", "division_name",
    "selection", "check_date", "result", "result_label", "measures_text", "certificates_text",
)  # fmt: skip


def _version_text(c: Correction) -> str:
    """A version's number, the day it became final and its result: ``第2版（2026-12-08 确定）
    其它情况``."""
    return f"第{c.version}版" + (f"（{c.date} 确定）" if c.date else " ") + c.result_label


def correction_text(c: Correction) -> str:
    """One version of a corrected result, as its round page lists it, a line a version: the
    version, the day it became final (its team's signatures: not the check's date, which is
    the row's ``check_date``), its result, and the reason it was corrected when one was given
    (a first version has none): ``第2版（2026-12-08 确定）其它情况，更正原因：笔误``. The JSON's
    ``corrections`` keeps those fields apart (``version``, ``date``, ``result``,
    ``result_label``, ``reason``); the CSV cell quotes the reason (:func:`_corrections`)."""
    return _version_text(c) + (f"，更正原因：{c.reason}" if c.reason else "")


def _cell_text(c: Correction) -> str:
    """One version as the CSV cell says it: :func:`correction_text` with the reason quoted,
    ``，更正原因：「笔误；日期写错」``, each ``」`` of the reason written twice, as a CSV file
    writes a quote inside a quoted cell. The rest of a version (its number, day and result
    label) is the program's own text, which holds neither ``；`` nor ``「」``."""
    reason = c.reason.replace("」", "」」")
    return _version_text(c) + (f"，更正原因：「{reason}」" if c.reason else "")


def _corrections(r: PublicResult) -> str:
    """The ``corrections`` cell of a corrected result: its versions in turn, separated by
    ``；``, ``第1版（2026-12-07 确定）未发现问题；第2版（2026-12-08 确定）其它情况，更正原因：
    「笔误」``. Whatever a reason holds (``；``, ``」``, a line break, ``第3版（``), a reader
    finds where each version ends: a reason runs from its ``「`` to the first ``」`` that is
    not doubled, and a ``；`` separates two versions only outside a reason (the data page's
    CSV 各列的含义 says the rule)."""
    return "；".join(map(_cell_text, r.history))


@dataclass(frozen=True)
class FileSlice:
    """Bytes ``start`` to ``end`` of the site's file ``rel``: a round's share of a file
    spanning every round, read from the round's own file when that file is written
    (``website.output.Output.write``), so that a publish never holds every round's share."""

    rel: str
    start: int
    end: int

    def __len__(self) -> int:
        return self.end - self.start


# a part of a file: the files spanning every round are written in pieces, each round's share
# a slice of its own data file (``website.parts``), never joined into one buffer
Piece: TypeAlias = bytes | memoryview | FileSlice

CSV_HEAD = ("\ufeff" + ",".join(CSV_COLUMNS) + "\r\n").encode("utf-8")


class _Lines(io.StringIO):
    """What a CSV writer writes, kept as a list of lines: the writer writes each row in one
    call."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines.append(text)
        return len(text)


def csv_lines(results: Sequence[PublicResult]) -> list[str]:
    """The CSV row of each of ``results`` (CRLF ended, no header): a result's piece of any
    CSV file (``website.fragments``). Written from the results' columns (``CSV_COLUMNS``), a
    column guarded at a time (``spreadsheet.safe_column``)."""
    columns = [list(map(attrgetter(name), results)) for name in _TEXT_COLUMNS]
    columns.append([str(r.version or "") for r in results])
    columns.append([_corrections(r) if r.history else "" for r in results])
    sink = _Lines()
    spreadsheet.csv_writer(sink).write_columns(columns)
    return sink.lines


def csv_file(pieces: Iterable[Piece]) -> list[Piece]:
    """A CSV file (BOM, header) of rounds' rows, as :func:`csv_lines` made them, in pieces."""
    return [CSV_HEAD, *pieces]


def csv_rows_of(rel: str, size: int) -> FileSlice:
    """The rows of ``rel``, a file of ``size`` bytes that :func:`csv_file` wrote (its header
    off), as a slice of it."""
    if size < len(CSV_HEAD):
        raise ValueError("not a results CSV of this version")
    return FileSlice(rel, len(CSV_HEAD), size)


def csv_text(data: bytes) -> str:
    """The rows of a file :func:`csv_file` wrote (``data`` its bytes), as text."""
    if not data.startswith(CSV_HEAD):
        raise ValueError("not a results CSV of this version")
    return data[len(CSV_HEAD) :].decode("utf-8")


def csv_rows_in(rel: str, rows: Piece) -> FileSlice:
    """``rows`` (:func:`csv_lines`, joined) as the slice of ``rel`` that :func:`csv_file`
    wrote them to."""
    return FileSlice(rel, len(CSV_HEAD), len(CSV_HEAD) + len(rows))


def result_of(record: Mapping[str, Any], stratum: str) -> PublicResult:
    """The result :func:`record_texts` made ``record`` of (decoded): a record holds every field
    of a result but its stratum."""
    return PublicResult(
        record["round_key"],
        record["credit_code"],
        record["enterprise_name"],
        record["division_code"],
        record["division_name"],
        stratum,
        record["selection"],
        record["check_item"],
        record["check_date"] or "",
        record["result"] or "",
        record["result_label"] or "",
        record["measures"],
        record["certificates"],
        record["description"],
        record["version"] or 0,
        [Correction(**c) for c in record["corrections"]],
    )


# one record a line: compact, keys sorted, by the C encoder (``indent`` would make json fall
# back to its pure-Python encoder, ten times slower); the file is still one JSON array
# (a record holds no cycle: the encoder does not look for one)
_RECORD = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), check_circular=False
)


def record_texts(results: Iterable[PublicResult]) -> list[str]:
    """The JSON record of each of ``results`` (one line: the encoder escapes every newline in
    a value). Joined by ``,\n``, a round's share of the array in ``data/<round>.json`` and
    ``data/results.json``."""
    return [_record(r) for r in results]


_text = _RECORD.encode  # a value as the encoder writes it in a record
# a str as the encoder writes it (its own C function, without the encoder's method around it:
# eleven a record)
_string = json.encoder.encode_basestring


def _record(r: PublicResult) -> str:
    """One record: the JSON object of the result's public fields, keys sorted, as the encoder
    writes it (read back by :func:`result_of`; a date, result, label or version that is ""
    or 0 while none is final is null), without a dict a result: the three lists, empty in
    most results, are encoded only when they are not (making the dict and the encoder's walk
    of it was more than half of the records' time). Every other value is text (or null)."""
    history = _text([c._asdict() for c in r.history]) if r.history else "[]"
    return (
        f'{{"certificates":{_text(r.certificates) if r.certificates else "[]"},'
        f'"check_date":{_string(r.check_date) if r.check_date else "null"},'
        f'"check_item":{_string(r.check_item)},"corrections":{history},'
        f'"credit_code":{_string(r.credit_code)},"description":{_string(r.description)},'
        f'"division_code":{_string(r.division_code)},"division_name":{_string(r.division_name)},'
        f'"enterprise_name":{_string(r.name)},'
        f'"measures":{_text(r.measures) if r.measures else "[]"},'
        f'"result":{_string(r.result) if r.result else "null"},'
        f'"result_label":{_string(r.result_label) if r.result_label else "null"},'
        f'"round_key":{_string(r.round_key)},"selection":{_string(r.selection)},'
        f'"version":{int.__repr__(r.version) if r.version else "null"}}}'
    )


def records_in(data: bytes) -> tuple[list[str], list[Any]]:
    """The records of a file :func:`json_file` wrote (``data`` its bytes), one a line, as
    :func:`record_texts` made them, and decoded: the file is their JSON array, decoded in one
    call from the text the lines are cut from (the bytes decoded once)."""
    text = data.decode("utf-8")
    if text == "[]\n":
        return [], []
    if not (text.startswith("[\n{") and text.endswith("}\n]\n")):
        raise ValueError("not a results JSON of this version")
    return text[2:-3].split(",\n"), json.loads(text)


def json_file(pieces: Iterable[Piece]) -> list[Piece]:
    """A JSON array of rounds' records (:func:`record_texts`, joined; empty pieces skipped),
    in pieces."""
    return _joined(b"[\n", [p for p in pieces if p], b",\n", b"\n]\n") or [b"[]\n"]


def json_records_of(rel: str, size: int) -> Piece:
    """The records of ``rel``, a file of ``size`` bytes that :func:`json_file` wrote (its
    brackets off), as a slice of it; ``b""`` for a file of no record (``[]``)."""
    if size == len(b"[]\n"):
        return b""
    if size < len(b"[\n{}\n]\n"):
        raise ValueError("not a results JSON of this version")
    return FileSlice(rel, 2, size - 3)


def json_records_in(rel: str, records: Piece) -> Piece:
    """``records`` (:func:`record_texts`, joined) as the slice of ``rel`` that
    :func:`json_file` wrote them to."""
    return FileSlice(rel, 2, 2 + len(records)) if records else b""


def _joined(start: bytes, pieces: list[Piece], between: bytes, end: bytes) -> list[Piece]:
    """``start + between.join(pieces) + end`` as a list of its pieces, never one buffer (the
    files spanning every round are tens of megabytes: they are hashed and written piece by
    piece, ``website.output``); ``[]`` when there is no piece."""
    if not pieces:
        return []
    out: list[Piece] = [start]
    for piece in pieces:
        out += (piece, between)
    out[-1] = end
    return out


_ENTRY = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def search_entries(results: Iterable[PublicResult]) -> bytes:
    """The entries of ``results`` in ``data/search-index.json`` (comma-separated)."""
    rows = [[r.round_key, r.credit_code, r.name, r.result_label, r.division_code] for r in results]
    return _ENTRY.encode(rows)[1:-1].encode("utf-8")


def search_index(pieces: Iterable[Piece]) -> list[Piece]:
    """``data/search-index.json``: [round key, credit code, name, result label, division
    code] per result, in pieces (the search page's 地区 choice narrows by the last)."""
    return _joined(b"[", [p for p in pieces if p], b",", b"]") or [b"[]"]


def round_json(rnd: PublicRound, shown: int, published: int) -> dict[str, Any]:
    """``shown``: enterprises the round's files list; ``published``: those with a result."""
    return {
        "round_key": rnd.round_key,
        "kind": rnd.kind,
        "period": rnd.period,
        "title": rnd.title,
        "check_item": rnd.check_item_code,
        "legal_basis": rnd.legal_basis,
        "plan_hash": rnd.plan_hash,
        "frame_commitment": rnd.frame_commitment,
        "frame_merkle_root": rnd.frame_merkle_root,
        "frame_size": rnd.frame_size,
        "entropy": rnd.entropy,
        "seed": rnd.seed,
        "counts": rnd.counts,
        # before the reveal only the number drawn is public, not which firms (rnd.results)
        "drawn": shown if rnd.revealed else drawn_count(rnd.counts),
        "published": published,
        "disclosure": rnd.disclosure,
        "revealed": rnd.revealed,
        "reveal_on": rnd.reveal_on or None,
    }


def drawn_count(counts: Mapping[str, Mapping[str, Any]]) -> int:
    """Enterprises drawn, at random and targeted, over every stratum of the round's counts."""
    return sum(int(c.get("drawn", 0)) + int(c.get("targeted", 0)) for c in counts.values())


MEDIA = "https://www.iana.org/assignments/media-types/"


def site_url(base: str, path: str) -> str:
    """The address of the site's file ``path``: under ``base`` (the site's own public address,
    ``SHUANGSUI_SITE_BASE_URL``) when set, else relative to the catalogue, which lies at the
    site's root (JSON-LD resolves a relative IRI against the document's own URL: the context
    sets no ``@base``)."""
    return f"{base.rstrip('/')}/{path}" if base else path


def _distribution(
    base: str, path: str, title: str, media: str, digest: tuple[str, int]
) -> dict[str, Any]:
    return {
        "@type": "dcat:Distribution",
        "@id": site_url(base, f"{path}#distribution"),
        "dct:title": title,
        "dcat:downloadURL": {"@id": site_url(base, path)},
        "dcat:mediaType": {"@id": MEDIA + media},
        "dcat:byteSize": {"@value": str(digest[1]), "@type": "xsd:nonNegativeInteger"},
        "spdx:checksum": {
            "@type": "spdx:Checksum",
            "spdx:algorithm": {"@id": "spdx:checksumAlgorithm_sha256"},
            "spdx:checksumValue": digest[0],
        },
    }


def catalog(site: Site, files: Mapping[str, tuple[str, int]]) -> bytes:
    """A DCAT 3 catalogue: one dataset for all results, one per round (with its bundle).

    ``files``: path -> (sha256, size) of every file of the site. Every address in it is one of
    the site's pages or files (:func:`site_url`)."""
    base = site.base_url
    publisher = {
        "@type": "foaf:Agent",
        "foaf:name": site.bureau_name,
        "dct:identifier": site.bureau_code,
    }

    def dist(path: str, title: str, media: str) -> list[dict[str, Any]]:
        return [_distribution(base, path, title, media, files[path])] if path in files else []

    datasets = [
        {
            "@type": "dcat:Dataset",
            "@id": site_url(base, "data/index.html#results"),
            "dct:title": f"{site.bureau_name}双随机抽查结果",
            "dct:publisher": publisher,
            "dcat:landingPage": {"@id": site_url(base, "data/index.html")},
            "dcat:keyword": ["双随机、一公开", "抽查结果", "认证"],
            "dct:language": "zh",
            "dcat:distribution": dist("data/results.csv", "全部结果 CSV", "text/csv")
            + dist("data/results.json", "全部结果 JSON", "application/json"),
        }
    ]
    for rnd in site.rounds:
        key = rnd.round_key
        page = f"rounds/{key}/index.html"
        verifier = f"rounds/{key}/bundle/verify.py"
        manifest = f"rounds/{key}/bundle/MANIFEST.sha256"
        dataset = {
            "@type": "dcat:Dataset",
            "@id": site_url(base, f"{page}#dataset"),
            "dct:identifier": key,
            "dct:title": f"{rnd.title}（{rnd.period}）",
            "dct:publisher": publisher,
            "dcat:landingPage": {"@id": site_url(base, page)},
            "dcat:keyword": [rnd.check_item_code, rnd.period],
            "dcat:distribution": dist(f"data/{key}.csv", "结果 CSV", "text/csv")
            + dist(f"data/{key}.json", "结果 JSON", "application/json")
            + dist(f"rounds/{key}/commitment.json", "抽取承诺", "application/json")
            + (dist(manifest, "验证包清单", "text/plain") if rnd.bundled else []),
        }
        if rnd.bundled and verifier in files:  # one not revealed (or published) has none yet
            dataset["dct:conformsTo"] = [{"@id": site_url(base, verifier)}]
        datasets.append(dataset)
    doc = {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
            "spdx": "http://spdx.org/rdf/terms#",
        },
        "@id": site_url(base, "catalog.jsonld"),
        "@type": "dcat:Catalog",
        "dct:title": f"{site.bureau_name}开放数据",
        "dct:publisher": publisher,
        "dct:conformsTo": {"@id": "https://www.w3.org/TR/vocab-dcat-3/"},
        "dcat:dataset": datasets,
    }
    return (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode()
