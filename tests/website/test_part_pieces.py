"""A round kept from the last publish is taken from its part without decoding where its pieces
are (website/parts.py): that index, thousands of numbers for a round of thousands of results,
is a line of its own in the ``.parts`` file, decoded only for the round read again, whose
pieces are taken from its files (website/fragments.py). Each ``Site.publish`` compares the
folder, byte for byte, with a publish of the same database into an empty folder."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from tests.findings.factories import ROUND, final_finding
from tests.website.test_incremental import NEXT, Site, _two_rounds
from website import parts


def test_only_the_round_read_again_decodes_its_pieces(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    teams, codes = _two_rounds(engine)
    site = Site(engine, tmp_path)
    site.publish()
    indexes: list[dict[str, Any]] = []  # where the pieces are, each time one is decoded

    def loads(data: bytes) -> Any:
        doc = json.loads(data)
        if isinstance(doc, dict) and "made_with" in doc.get("pieces", doc):
            indexes.append(doc.get("pieces", doc))
        return doc

    monkeypatch.setattr(parts, "json", SimpleNamespace(loads=loads, dumps=json.dumps))
    final_finding(engine, codes[1], teams[codes[1]], result="unreachable")
    report = site.publish()
    assert report.reread == [ROUND] and report.read_in_part == [ROUND]
    # ROUND's, where its pieces are taken (NEXT's part, kept, is read without its index)
    assert [len(index["strata"]) for index in indexes] == [len(teams)]
    assert NEXT not in report.reread
