"""Where a coordinator's round runs (an ad hoc round, or a committed round's ceremony): through
its deployment (``adhoc-round/adhoc``, ``draw-round/ceremony``) when a Prefect server with that
deployment is configured, in the caller's process otherwise. Same flow, same code path; only
the runner differs."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

ADHOC_DEPLOYMENT = "adhoc-round/adhoc"
DRAW_DEPLOYMENT = "draw-round/ceremony"  # a committed round drawn with its ceremony's digits


def deployment_available(name: str = ADHOC_DEPLOYMENT) -> bool:
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        return False
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            client.read_deployment_by_name(name)
    except ObjectNotFound:
        logger.info(
            "no deployment %s on %s: running in this process", name, PREFECT_API_URL.value()
        )
        return False
    return True
