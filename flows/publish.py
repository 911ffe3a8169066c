"""The ``publish-results`` flow: render the public site and record what went out."""

from __future__ import annotations

from typing import Any

from prefect import flow

from shuangsui.config import get_settings
from shuangsui.db import migrate
from tasks.publish import publish_site_task


@flow(name="publish-results", log_prints=False)
def publish_results(
    out: str | None = None, bundles: bool = True, check_files: bool = True
) -> dict[str, Any]:
    """Publish into ``out`` (default ``$SHUANGSUI_HOME/site``): pages, open data, catalogue and
    verification bundles, rewriting only what changed; first every file the last publish
    wrote is read and hashed, and each changed on disk since is written again.

    Args:
        out: 公开网站输出目录，默认 $SHUANGSUI_HOME/site / the site's folder; default
            $SHUANGSUI_HOME/site
        bundles: 是否附带核验包 / whether to publish the verification bundles
        check_files: 是否先核对已发布文件未被改动 / whether every published file is checked
            against the manifest first (and written again if changed)
    """
    settings = get_settings()
    migrate(settings.resolved_database_url)
    target = out or str(settings.home.resolve() / "site")
    return publish_site_task(target, bundles, check_files)
