"""Starting the ``adhoc-round`` flow from the API: through the deployment when a Prefect API
is configured, otherwise in a background thread of this process."""

from __future__ import annotations

import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)

DEPLOYMENT = "adhoc-round/adhoc"


def run_adhoc(params: dict[str, Any]) -> dict[str, Any]:
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        from prefect.deployments import run_deployment

        run = run_deployment(DEPLOYMENT, parameters=params, timeout=0)
        logger.info("ad hoc round requested by %s: flow run %s", params["requested_by"], run.id)
        return {"mode": "deployment", "flow_run_id": str(run.id), "state": "scheduled"}

    def _run() -> None:
        from flows.rounds import adhoc_round

        try:
            adhoc_round(**params)
        except Exception:
            logger.exception("ad hoc round for %s failed", params["requested_by"])

    thread = threading.Thread(target=_run, name="adhoc-round", daemon=True)
    thread.start()
    return {"mode": "in-process", "flow_run_id": None, "state": "running"}
