"""Why each member's link to a check would be refused now, as the API and the workspace refuse
it (``api.inspector_tokens``: revoked, marked inactive, past its expiry): a link given again
(``notifications.relink``) would be refused all the same, so its member is left out and named.
Shared by ``shuangsui notifications relink`` and the coordinator's page."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from api import inspector_tokens
from notifications.relink import Refusals
from shuangsui.config import Settings


def link_refusals(settings: Settings) -> Refusals:
    """Why each of ``members``' links to ``credit_code`` in ``round_key`` would be refused, by
    inspector id (none: it opens)."""

    def refused(
        session: Session, round_key: str, credit_code: str, members: Sequence[str]
    ) -> dict[str, str]:
        found = inspector_tokens.load(session, round_key, credit_code)
        if found is None:
            return {}
        out = {}
        for member in members:
            said = inspector_tokens.refusal(found, member, round_key, settings)
            if said is not None:
                out[member] = said.detail
        return out

    return refused
