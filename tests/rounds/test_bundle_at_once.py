"""Two verification bundles written into one folder at once (the command run twice): both
end without error and the folder holds the bundle, whole, with no temporary file left.
The interleaving is forced (``tests.writers.two_at_once``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from rounds import bundle
from tests.crash.test_kill_publish import _leftovers, _tree
from tests.findings.factories import ROUND, drawn_round
from tests.writers import two_at_once


def test_a_bundle_started_while_another_writes_the_folder_waits_its_turn(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn_round(engine)
    out = tmp_path / "bundle"
    failed = two_at_once(monkeypatch, lambda: bundle.bundle_round(engine, ROUND, out),
                         clears=bundle)  # fmt: skip
    assert failed == []

    assert _leftovers(out) == []
    clean = tmp_path / "clean"
    bundle.bundle_round(engine, ROUND, clean)
    assert _tree(out) == _tree(clean)
    assert bundle.run_verify_script(out).returncode == 0
