"""Two publishes into one folder at once (a cron job and a coordinator, or the command run
twice): both end without error, the site is whole and the same as one publish makes, every
result is recorded as published once.
The interleaving is forced (``tests.writers.two_at_once``): the first publish is held before
its index page is renamed into place."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.crash.test_kill_publish import _leftovers, _recorded, _tree, _world
from tests.writers import two_at_once
from website import site
from website.site import publish


def test_a_publish_started_while_another_writes_the_folder_waits_its_turn(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _world(engine, findings=2)
    out = tmp_path / "site"
    failed = two_at_once(monkeypatch, lambda: publish(engine, out), clears=site,
                         held_at="index.html")  # fmt: skip
    assert failed == []

    assert _leftovers(out) == []
    clean = tmp_path / "clean"
    publish(engine, clean)
    assert _tree(out) == _tree(clean)
    total, distinct = _recorded(engine)
    assert total == distinct == 2
