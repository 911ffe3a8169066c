"""An evidence file named ``..`` (or ``.``, or dots and spaces alone) was stored and served
back as ``filename=".."``: a name of a folder, not of a file. Refused by the library itself,
so wherever a file comes in (the API: ``test_evidence_upload.py``; the inspector's page:
``tests/workspace/test_inspector_probe.py``), and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from findings import evidence
from findings.settings import FindingsSettings
from tests.findings.media_samples import PDF

NAMES = ["..", ".", "...", " . ", ". ."]


@pytest.mark.parametrize("name", NAMES)
def test_the_writer_refuses_a_name_of_dots_and_spaces(tmp_path: Path, name: str) -> None:
    with pytest.raises(evidence.EvidenceNameRefused, match="is not a file name"):
        evidence.EvidenceWriter(tmp_path, "application/pdf", FindingsSettings(), filename=name)
    assert not list(evidence.evidence_dir(tmp_path).glob("*"))


@pytest.mark.parametrize("name", ["", "..pdf", "a..b.pdf", ".hidden.pdf", "报告 .pdf"])
def test_a_name_with_more_than_dots_and_spaces_is_kept(tmp_path: Path, name: str) -> None:
    with evidence.EvidenceWriter(
        tmp_path, "application/pdf", FindingsSettings(), filename=name
    ) as writer:
        writer.write(PDF)
        writer.finish()
    assert writer.filename == name
