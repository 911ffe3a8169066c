"""Wire joint rounds into ``partners status``: withheld reveals, equivocations and refused
reveals are shown with the evidence (``shuangsui.wiring`` calls ``install``)."""

from __future__ import annotations

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from exchange import cli
    from joint.evidence import all_evidence

    cli.status_hooks.append(all_evidence)
    _installed = True
