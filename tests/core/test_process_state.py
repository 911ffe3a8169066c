"""Each test starts from the session's process-wide state, whatever ran before it in the same
process: the umask and the PREFECT_* variables (tests/conftest.py, ``_process_state_kept``).

The CLI's ``main()`` run in the test process (as tests/rounds/test_cli.py runs it) leaves the
umask at 0o077 and Prefect's defaults set in ``os.environ``; these tests, run after it in one
process, find them as the session had them. The first one changes both in passing itself, the
way ``main()`` does; the second checks (after it, or after whatever ran before it)."""

from __future__ import annotations

import os

from shuangsui import cli
from tests.conftest import SESSION_PREFECT_ENV, SESSION_UMASK


def _umask() -> int:
    now = os.umask(0o022)
    os.umask(now)
    return now


def _prefect_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("PREFECT_")}


def test_the_cli_changes_the_umask_and_prefect_variables_in_passing() -> None:
    assert set(cli.PREFECT_DEFAULTS) - set(_prefect_env()), "nothing for main() to set"
    os.umask(0o077)  # main()'s first lines
    cli.prefect_defaults()
    assert _umask() == 0o077 and set(cli.PREFECT_DEFAULTS) <= set(_prefect_env())


def test_a_test_starts_with_the_sessions_umask_and_prefect_variables() -> None:
    assert _umask() == SESSION_UMASK
    assert _prefect_env() == SESSION_PREFECT_ENV
