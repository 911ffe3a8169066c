"""A drawn round whose notices sit in the file outbox, and links read back from them."""

from __future__ import annotations

import email
import email.policy
import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from notifications.dispatch import dispatch
from shuangsui.config import get_settings
from tests.findings.factories import drawn_round

LINK = re.compile(r"https?://[^\s\"'<>]+/w/open/[^\s\"'<>]+")


def delivered_round(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Draw ``ccc-2026-12`` and deliver its notices to the file outbox; the teams."""
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    teams = drawn_round(engine)
    dispatch(engine=engine)
    return teams


def _text(path: Path) -> str:
    if path.suffix == ".eml":
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        parts = [p.get_content() for p in msg.walk() if p.get_content_maintype() == "text"]
        return "\n".join(str(p) for p in parts) + str(msg["To"])
    return json.dumps(json.loads(path.read_text(encoding="utf-8")), ensure_ascii=False)


def outbox_link(credit_code: str, inspector_id: str, base_url: str) -> str:
    """The link in ``inspector_id``'s notice for ``credit_code``, pointed at ``base_url``."""
    from notifications.links import assignment_token
    from tests.findings.factories import ROUND

    secret = get_settings().secret_key.get_secret_value()
    token = assignment_token(secret, ROUND, credit_code, inspector_id)
    outbox = Path(get_settings().home) / "outbox"
    for path in sorted(outbox.rglob("*.*")):
        for link in LINK.findall(_text(path)):
            if link.endswith(f"token={token}"):
                return base_url + link[link.index("/w/open/") :]
    raise AssertionError(f"no notice for {inspector_id} on {credit_code} in {outbox}")


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f80f0000010101005bd1a7f30000000049454e44ae426082"
)


def csrf_of(html: str, action: str = "") -> str:
    """The CSRF token of the page's (first) form."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)
