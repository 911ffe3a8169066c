"""Connect the parts that react to a draw, in one place.

The draw (``rounds.service``) knows nothing of notifications or the partner exchange; each
registers a hook that runs inside the draw's own transaction. Every entry point (the CLI,
the flows, the HTTP API, the demo, the tests) calls ``install()`` so the system behaves the
same whichever way a round is drawn.
"""

from __future__ import annotations

import importlib


def install() -> None:
    """Idempotent."""
    from shuangsui import logsafe

    logsafe.install()  # no log line carries a token, whichever entry point runs
    for module in (
        "notifications.hooks",
        "exchange.hooks",
        "risk.hooks",
        "leads.hooks",
        "joint.hooks",
    ):
        try:
            hooks = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module.split(".")[0] and exc.name != module:
                raise
            continue
        hooks.install()
