"""The ``sync-partners`` flow: pull every partner (or the ones named), one task each, in parallel.

A partner that is down or misbehaves gets nothing applied and keeps its cursor; the others go
on. The outcome of each is returned and logged; ``shuangsui partners status`` shows the why.
A sync that broke on a fault not the partner's (a bug, our own database: status ``error``,
recorded as the others are) fails the run, once every partner's sync ended: it needs a person.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.logging import get_run_logger

from exchange.directory import load_directory
from shuangsui.config import get_settings
from shuangsui.db import migrate
from tasks.partners import sync_partner_task


@flow(name="sync-partners", log_prints=False)
def sync_partners(codes: list[str] | None = None) -> list[dict[str, Any]]:
    """Pull and verify each partner's log.

    Args:
        codes: 要同步的合作局代码，默认全部 / the partner bureaus' codes; default every partner
    """
    migrate(get_settings().resolved_database_url)
    codes = codes or sorted(load_directory())
    futures = [sync_partner_task.submit(code) for code in codes]
    outcomes = [f.result() for f in futures]
    bad = [o["partner"] for o in outcomes if o["status"] != "ok"]
    get_run_logger().info("%d partner(s) synced, %d rejected %s", len(outcomes), len(bad), bad)
    if broke := [f"{o['partner']}: {o['error']}" for o in outcomes if o["status"] == "error"]:
        raise SyncBroke(f"the sync of {len(broke)} partner(s) broke, nothing of theirs applied "
                        f"(`shuangsui partners status`): {'; '.join(broke)}")  # fmt: skip
    return outcomes


class SyncBroke(RuntimeError):
    """A partner's sync broke on a fault not the partner's: the run fails, saying whose."""
