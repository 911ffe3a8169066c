"""How the configured Prefect server says a ceremony's deployment run is (``api.ceremonies``:
a run in a final state with no draw ends its hold), asked so that no one waits on it long: a
refused connection answers at once (a transport without retries: Prefect's client retries a
connection three times, 0.5 s apart), a silent server within :data:`ASK_SECONDS`, and the
round's page, which reloads itself every few seconds while a ceremony holds the round, asks at
most once in :data:`REMEMBER_SECONDS` per run and process (:func:`remembered_state`)."""

from __future__ import annotations

import functools
import logging
import ssl
import sys
import threading
import time
import uuid

import httpx

logger = logging.getLogger(__name__)

# How long a ceremony, ``round draw``, ``GET /rounds/{key}`` or the round's page waits for
# Prefect to say how a held round's run is: one request, no retry; no answer in time leaves the
# hold as it is
ASK_SECONDS = 3.0
# How long this process keeps a run's answer for the round's page and GET /rounds/{key}: a
# page refreshed every 5 s (workspace.adhoc.REFRESH_SECONDS) asks once in three; a run ended
# meanwhile is said at most this late (a ceremony and ``round draw`` always ask afresh)
REMEMBER_SECONDS = 15.0
_REMEMBERED_MAX = 1_000  # runs remembered at most (the expired dropped first)
_remembered: dict[tuple[str, str], tuple[float, str | None]] = {}
_remembered_lock = threading.Lock()


def run_state(flow_run_id: str) -> str | None:
    """The state's type of the deployment's flow run ``flow_run_id`` (``CANCELLED``,
    ``SCHEDULED``...) as the configured Prefect server says it, through Prefect's client (its
    headers, authentication and TLS settings) over a transport without retries; None when no
    server is configured, or it refused the connection, did not answer within
    :data:`ASK_SECONDS`, or knows no such run (a hold is never ended on an error)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    if not PREFECT_API_URL.value():
        return None  # no temporary server is started to be asked
    import_prefect()
    from prefect.client.orchestration import get_client

    try:
        run_id = uuid.UUID(flow_run_id)
        verify = _verify()
        settings = {"timeout": ASK_SECONDS, "transport": _transport(verify), "verify": verify}
        with (
            temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}),
            get_client(httpx_settings=settings, sync_client=True) as client,
        ):
            state = client.read_flow_run(run_id).state
    except Exception as exc:  # unreachable, slow, or no such run: the hold keeps its rule
        logger.warning("flow run %s: Prefect did not say its state: %s", flow_run_id, said(exc))
        return None
    return state.type.value if state is not None else None


def remembered_state(flow_run_id: str) -> str | None:
    """:func:`run_state`, its answer (or its silence) kept :data:`REMEMBER_SECONDS` in this
    process for the run at the configured server: for what is asked again and again (the round's
    page, reloading itself, and ``GET /rounds/{key}``), never for what ends or takes a hold."""
    from prefect.settings import PREFECT_API_URL

    key = (str(PREFECT_API_URL.value() or ""), flow_run_id)
    now = time.monotonic()
    with _remembered_lock:
        kept = _remembered.get(key)
    if kept is not None and now - kept[0] < REMEMBER_SECONDS:
        return kept[1]
    state = run_state(flow_run_id)
    with _remembered_lock:
        if len(_remembered) >= _REMEMBERED_MAX:
            for old in [k for k, (at, _) in _remembered.items() if now - at >= REMEMBER_SECONDS]:
                del _remembered[old]
            if len(_remembered) >= _REMEMBERED_MAX:
                _remembered.clear()
        _remembered[key] = (time.monotonic(), state)
    return state


def forget() -> None:
    """Drop every answer kept (a test's next look asks Prefect)."""
    with _remembered_lock:
        _remembered.clear()


def _transport(verify: ssl.SSLContext) -> httpx.HTTPTransport:
    """The transport Prefect's client would build, less its three connection retries (one
    refused connection answered after 1.5 s)."""
    return httpx.HTTPTransport(retries=0, verify=verify)


def _verify() -> ssl.SSLContext:
    """The SSL context Prefect's client builds from its TLS settings (its certificate file, or
    certifi's; or none verified), built once for each: loading the certificates took ~18 ms
    of CPU, twice at every ask (the transport's, and the client's own unless it is given one),
    and the round's page asks every 15 s while its ceremony holds the round. A context is only
    read once built: every ask shares it (a certificate file changed is read at the restart)."""
    from prefect.settings import PREFECT_API_SSL_CERT_FILE, PREFECT_API_TLS_INSECURE_SKIP_VERIFY

    insecure = bool(PREFECT_API_TLS_INSECURE_SKIP_VERIFY.value())
    return _context(PREFECT_API_SSL_CERT_FILE.value() or "", insecure)


@functools.lru_cache(maxsize=4)
def _context(cafile: str, insecure: bool) -> ssl.SSLContext:
    import certifi

    if insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=cafile or certifi.where())


def said(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def import_prefect() -> None:
    """Import Prefect with ``serve``'s loggers left as they are. Prefect configures logging for
    the whole process when first imported (its ``logging.yml``, not incrementally), and that
    resets every logger under one it names: "uvicorn.access" lost its level and handler, and
    ``serve`` wrote no access log after the first in-process ad hoc round."""
    if "prefect.main" in sys.modules:
        return
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "uvicorn"]
    kept = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled)
            for lg in map(logging.getLogger, names)]  # fmt: skip
    import prefect.main  # noqa: F401  (its logging set-up runs on import)

    for lg, level, handlers, propagate, disabled in kept:
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.propagate, lg.disabled = propagate, disabled
