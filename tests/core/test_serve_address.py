"""``shuangsui serve`` sees that it can listen before it starts anything. On a port another
process held it migrated the database, started the app (its background loops), and only then
stopped at uvicorn's bind, saying it among the app's start and stop lines, exit 3; an address
of another machine and a name that does not resolve did the same. It now refuses at once, in
one line naming the address, and leaves the database as it was (not made, not migrated)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.databases import create_database, drop_database
from tests.deploy.procs import shuangsui
from tests.servers import free_port

POSTGRES_URL = os.environ.get("SHUANGSUI_TEST_POSTGRES_URL", "")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database nothing has migrated yet: a SQLite file not made, a PostgreSQL one empty."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'shuangsui.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured (set SHUANGSUI_TEST_POSTGRES_URL)")
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"shuangsui_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}_serve"
    create_database(admin, name)
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        drop_database(admin, name)
        admin.dispose()


def _untouched(url: str) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return not Path(parsed.database or "").exists()
    engine = sa.create_engine(url)
    try:
        return sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def _serve(tmp_path: Path, url: str, *args: str) -> tuple[int, str, str]:
    proc = shuangsui(tmp_path, "serve", *args, SHUANGSUI_HOME=str(tmp_path / "data"),
                     SHUANGSUI_DATABASE_URL=url)  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path: Path, empty_url: str) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", free_port()))
        held.listen()
        port = held.getsockname()[1]
        code, out, err = _serve(tmp_path, empty_url, "--port", str(port))
    assert (code, out, err) == (2, "", f"error: serve: 127.0.0.1:{port} is already in use\n")
    assert _untouched(empty_url)


@pytest.mark.parametrize(
    ("host", "said"),
    [
        ("192.0.2.1", "error: serve: --host 192.0.2.1: not an address of this machine "
                      "(Cannot assign requested address)"),
        ("no-such-host.invalid", "error: serve: --host no-such-host.invalid: "),
    ],
)  # fmt: skip
def test_a_host_this_machine_cannot_listen_on_is_refused(
    tmp_path: Path, empty_url: str, host: str, said: str
) -> None:
    code, out, err = _serve(tmp_path, empty_url, "--host", host, "--port", str(free_port()))
    assert (code, out) == (2, ""), err
    assert err.startswith(said) and len(err.splitlines()) == 1, err
    assert _untouched(empty_url)


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_a_port_outside_1_to_65535_is_refused_naming_the_option(
    tmp_path: Path, empty_url: str, port: str
) -> None:
    code, out, err = _serve(tmp_path, empty_url, "--port", port)
    assert code == 2 and out == "", err
    assert "Invalid value for '--port'" in err
    assert _untouched(empty_url)


def test_the_help_names_what_serve_serves() -> None:
    """The help said "Serve the findings API": an operator choosing what to put behind the
    proxy would leave out the workspace and the partner exchange it serves as well."""
    from typer.testing import CliRunner

    from shuangsui.cli import _register_groups, app

    _register_groups()
    said = " ".join(CliRunner().invoke(app, ["serve", "--help"], terminal_width=400).output.split())
    for part in ("/openapi.json", "the partner exchange (/exchange/v1)", "workspace pages (/w"):
        assert part in said, said
