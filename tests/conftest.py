"""Fixtures shared by every test: a clean environment, both databases, one Prefect harness."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

# Clean the environment before Prefect or the settings are imported: tests must not see the
# operator's SHUANGSUI_* or PREFECT_* variables, only what they set themselves.
_KEEP = ("SHUANGSUI_TEST_", "SHUANGSUI_REQUIRE_")
for _name in list(os.environ):
    if (_name.startswith("SHUANGSUI_") and not _name.startswith(_KEEP)) or _name.startswith(
        "PREFECT_"
    ):
        del os.environ[_name]
_PREFECT_TMP = Path(tempfile.mkdtemp(prefix="shuangsui-prefect-"))
os.environ["PREFECT_HOME"] = str(_PREFECT_TMP / "home")
os.environ["PREFECT_RESULTS_LOCAL_STORAGE_PATH"] = str(_PREFECT_TMP / "storage")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["PREFECT_LOGGING_TO_API_ENABLED"] = "false"
# What every test starts from (see _process_state_kept): the umask, the PREFECT_* variables.
SESSION_UMASK = os.umask(0o022)
os.umask(SESSION_UMASK)
SESSION_PREFECT_ENV = {k: v for k, v in os.environ.items() if k.startswith("PREFECT_")}

import pytest  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import SQLModel  # noqa: E402

import shuangsui.models  # noqa: E402,F401
from shuangsui import config, db, wiring  # noqa: E402
from tests.databases import create_database, drop_database  # noqa: E402

wiring.install()  # the draw queues notifications (and log entries) as in production

POSTGRES_URL = os.environ.get("SHUANGSUI_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("SHUANGSUI_REQUIRE_POSTGRES") == "1"


# A PostgreSQL connection collected while still open fails whichever test happens to run then.
# Each connection remembers the test that opened it, so the warning names the culprit.
@sa.event.listens_for(sa.engine.Engine, "connect")
def _remember_opener(dbapi_connection: object, _record: object) -> None:
    with contextlib.suppress(AttributeError, TypeError):
        dbapi_connection._opened_by = os.environ.get("PYTEST_CURRENT_TEST", "outside a test")  # type: ignore[attr-defined]


def _name_the_opener() -> None:
    try:
        from psycopg._connection_base import BaseConnection
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return
    original = BaseConnection.__del__

    def __del__(self: BaseConnection) -> None:  # type: ignore[type-arg]
        if not getattr(self, "closed", True):
            opener = getattr(self, "_opened_by", "an unknown test")
            warnings.warn(
                f"a PostgreSQL connection opened during {opener} was collected while still "
                "open: that test (or what it started) leaks it",
                ResourceWarning,
                stacklevel=1,
            )
        original(self)

    BaseConnection.__del__ = __del__  # type: ignore[method-assign]


_name_the_opener()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_PREFECT_TMP, ignore_errors=True)


@pytest.fixture(autouse=True)
def _findings_today(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test data's checks take place in December 2026 whatever the real date: the findings'
    date rule (findings/dates.py) sees 2026-12-31 as today. Its own tests pass ``on=``."""
    monkeypatch.setattr("findings.dates.today", lambda now=None: dt.date(2026, 12, 31))


@pytest.fixture(autouse=True)
def _process_state_kept() -> None:
    """Each test starts from the session's process-wide state, whatever ran before it: the
    umask and the PREFECT_* variables. The CLI's ``main()`` run in the test process
    (tests/rounds/test_cli.py) makes the umask 0o077 and sets Prefect's defaults with
    ``os.environ.setdefault``, which no monkeypatch undoes: every later test of that worker
    ran with them, its files private (0o600) whether or not the code made them so, depending
    on which tests ran before it. (Set here, at the start: a monkeypatch of the test before
    is undone by then.)"""
    os.umask(SESSION_UMASK)
    for name in [k for k in os.environ if k.startswith("PREFECT_")]:
        if name not in SESSION_PREFECT_ENV:
            del os.environ[name]
    os.environ.update(SESSION_PREFECT_ENV)


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Each test starts from default settings with its own data directory."""
    for name in list(os.environ):
        if name.startswith("SHUANGSUI_") and not name.startswith(_KEEP):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SHUANGSUI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHUANGSUI_ENVIRONMENT", "test")
    config.get_settings.cache_clear()
    yield
    config.get_settings.cache_clear()
    for engine in db._engines.values():
        engine.dispose()
    db._engines.clear()


# ------------------------------------------------------------------ databases
@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    db.migrate(f"sqlite:///{path}")
    return path


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _require_postgres() -> None:
    if not POSTGRES_URL:
        if REQUIRE_POSTGRES:
            pytest.fail("SHUANGSUI_REQUIRE_POSTGRES=1 but SHUANGSUI_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured (set SHUANGSUI_TEST_POSTGRES_URL)")


def _create_database(admin: sa.Engine, name: str) -> str:
    """An empty database ``name`` migrated to head; its URL."""
    create_database(admin, name)
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    db.migrate(url)
    return url


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of its own for this test worker, migrated to head once."""
    _require_postgres()
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"shuangsui_test_{_worker_id()}_{os.getpid()}"
    yield _create_database(admin, name)
    drop_database(admin, name)
    admin.dispose()


@pytest.fixture
def new_postgres_database() -> Iterator[Callable[[str], str]]:
    """Makes more PostgreSQL databases for one test (each bureau of a multi-bureau test has
    its own), empty and migrated; all are dropped after the test."""
    _require_postgres()
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make(tag: str) -> str:
        name = f"shuangsui_test_{_worker_id()}_{os.getpid()}_{tag}"
        made.append(name)
        return _create_database(admin, name)

    try:
        yield make
    finally:
        try:
            for name in made:
                drop_database(admin, name)
        finally:
            admin.dispose()


def _truncate_all(url: str) -> None:
    engine = sa.create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        # a test that left a transaction open fails here, loudly, instead of hanging
        conn.execute(sa.text("SET LOCAL lock_timeout = '20s'"))
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


def _rounds_ended() -> None:
    """A round the API started in this process goes on in a thread after its draw (bundle,
    notices). It must end before the test's database does: an engine disposed while the thread
    holds a connection takes that connection back into the discarded pool, where it is
    collected, still open, during some later test."""
    from api.adhoc import wait_for_running

    left = wait_for_running(timeout=120)
    assert left == [], f"in-process rounds still running after 120 s: {left}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    """A migrated, empty database: every database test runs once on SQLite, once on PostgreSQL.

    The URL is also set as ``SHUANGSUI_DATABASE_URL`` so code that reads the settings uses it.
    """
    if request.param == "sqlite":
        path = tmp_path / "shuangsui.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
        monkeypatch.setenv("SHUANGSUI_DATABASE_URL", url)
        config.get_settings.cache_clear()
        yield url
        _rounds_ended()
    else:
        url = request.getfixturevalue("postgres_database")
        monkeypatch.setenv("SHUANGSUI_DATABASE_URL", url)
        config.get_settings.cache_clear()
        try:
            yield url
        finally:
            try:
                _rounds_ended()
            finally:  # even so: the next test must find its database empty
                for engine in db._engines.values():
                    engine.dispose()
                db._engines.clear()
                _truncate_all(url)


@pytest.fixture
def engine(db_url: str) -> sa.Engine:
    return db.get_engine()


# ------------------------------------------------------------------ prefect
_harness: list[object] = []  # the session's Prefect test server, once started
_harness_stopped_by: list[str] = []


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test harness for the whole session (per xdist worker), heartbeat off."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with (
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
        prefect_test_harness(server_startup_timeout=120),
    ):
        _harness.append(SubprocessASGIServer._instances[None])
        try:
            yield
        finally:
            _harness.clear()


@pytest.fixture(autouse=True)
def _harness_kept(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that stops the session's Prefect test server fails, by name. serve, as it ends,
    stops every temporary Prefect server of its process (api.adhoc.stop_temporary_server): run
    in the test process, it stopped this one, and every later test of that worker that runs a
    flow failed instead ('Connection refused'), far from the cause."""
    yield
    if not _harness or _harness_stopped_by:
        return
    server = _harness[0]
    process = getattr(server, "server_process", None)
    if process is None or process.poll() is not None:
        _harness_stopped_by.append(request.node.nodeid)
        pytest.fail(
            f"{request.node.nodeid} stopped the session's Prefect test server (on "
            f"{getattr(server, 'address', '?')}): every later flow test of this worker fails",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _disclosure_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test data's check windows lie in 2026 and 2027: the disclosure clock
    (rounds/disclosure.py) stands at 2028-01-01 00:00 Beijing time, after every one has closed,
    so a round is public as soon as it is drawn, as before disclosure rules existed. Tests of
    the disclosure rule pass ``now=`` or set this clock themselves."""
    monkeypatch.setattr(
        "rounds.disclosure.now", lambda: dt.datetime(2027, 12, 31, 16, 0, tzinfo=dt.UTC)
    )


@pytest.fixture(autouse=True)
def _replacement_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test rounds' checks are due on the last day of 2026-12: the day a replacement
    compares a seat's due date with (``rounds.replacements.bureau_today``) stands at
    2026-12-07, the first day of their windows, so no seat's date is gone by the calendar
    alone. Tests of the date make a seat's date gone themselves."""
    monkeypatch.setattr("rounds.replacements.bureau_today", lambda: dt.date(2026, 12, 7))
