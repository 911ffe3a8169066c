"""Wire joint rounds into ``partners status``: withheld reveals, equivocations and refused
reveals are shown with the evidence; and a replacement held tells our people it concerns
(``joint.notify.tell_the_team``). ``shuangsui.wiring`` calls ``install``."""

from __future__ import annotations

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    from exchange import cli
    from joint import replacements
    from joint.evidence import all_evidence
    from joint.notify import tell_the_team

    cli.status_hooks.append(all_evidence)
    if tell_the_team not in replacements.after_replacement_hooks:
        replacements.after_replacement_hooks.append(tell_the_team)
    _installed = True
