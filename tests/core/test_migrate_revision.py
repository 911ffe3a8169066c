"""``shuangsui db migrate REVISION`` said the database was at whatever was typed: on a database
at 0021, ``db migrate 0005`` and ``db migrate base`` did nothing and printed ``at 0005``,
``at base``; ``abc``, ``-1`` and ``head+1`` ended in alembic's traceback. A revision that is
not one of ours, or older than the database's, is now refused naming REVISION, nothing done,
and the command says the revision the database is at once it has run."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from shuangsui.db import alembic_config
from tests.core.test_serve_address import empty_url  # noqa: F401  (the fixture)
from tests.deploy.procs import shuangsui

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def _at(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def test_a_revision_is_refused_unless_it_upgrades(
    tmp_path: Path,
    empty_url: str,  # noqa: F811
) -> None:
    def migrate(*revision: str) -> tuple[int, str, str]:
        env = {"SHUANGSUI_HOME": str(tmp_path / "data"), "SHUANGSUI_DATABASE_URL": empty_url}
        proc = shuangsui(tmp_path, "db", "migrate", "--", *revision, **env)
        return proc.returncode, proc.stdout, proc.stderr

    code, out, err = migrate("0005")
    assert (code, out.endswith(" at 0005\n")) == (0, True), out + err
    assert _at(empty_url) == "0005"
    for older in ("0003", "0001"):
        assert migrate(older) == (
            2, "", f"error: REVISION {older}: the database is at 0005, a later revision; db "
            "migrate only upgrades (to go back, restore the backup taken before the upgrade)\n"
        )  # fmt: skip
    for typed in ("base", "abc", "-1", "head+1", "heads", "0021@head"):
        assert migrate(typed) == (
            2, "", f"error: REVISION {typed!r}: not a revision of shuangsui's schema; give head "
            f"(the default) or one of 0001 … {HEAD}\n"
        ), typed  # fmt: skip
    assert _at(empty_url) == "0005"
    code, out, err = migrate()
    assert (code, out.endswith(f" at {HEAD} (head)\n")) == (0, True), out + err
    assert _at(empty_url) == HEAD


@pytest.mark.parametrize("typed", ["abc", "base"])
def test_an_unknown_revision_leaves_a_new_database_unmade(
    tmp_path: Path,
    empty_url: str,  # noqa: F811
    typed: str,
) -> None:
    proc = shuangsui(tmp_path, "db", "migrate", typed, SHUANGSUI_HOME=str(tmp_path / "data"),
                     SHUANGSUI_DATABASE_URL=empty_url)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    url = sa.engine.make_url(empty_url)
    if url.get_backend_name() == "sqlite":
        assert not Path(url.database or "").exists()
