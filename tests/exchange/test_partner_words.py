"""What a partner says in a refusal reaches the operator (``partners status``, the log, the
workspace's partners page) on one line and without its control or invisible characters: a
refusal's body holding an escape sequence recoloured the terminal that printed the status, and
a right-to-left override turned the line around."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from exchange.directory import Directory, Partner
from exchange.keys import load_or_create
from exchange.models import PartnerState
from exchange.sync import sync_partner

SAID = "<html>错误\x1b[31m红色\u202e反转\r\n第二行\x00"


def test_a_partner_s_refusal_is_kept_on_one_line_without_its_control_characters(
    engine: sa.Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    theirs = load_or_create(tmp_path / "theirs", "310000")
    partner = Partner("310000", "上海", "310000", "http://sh.test", (theirs.public,))

    def refuse(request: httpx.Request) -> httpx.Response:
        body = httpx.ByteStream(SAID.encode())
        return httpx.Response(500, stream=body, headers={"content-type": "text/html"})

    with caplog.at_level(logging.WARNING, logger="exchange.sync"):
        out = sync_partner(engine, partner, transport=httpx.MockTransport(refuse),
                           directory=Directory({partner.code: partner}))  # fmt: skip
    with Session(engine) as s:
        state = s.get(PartnerState, partner.code)
        assert state is not None
    logged = [r.getMessage() for r in caplog.records if "310000" in r.getMessage()]
    assert out.status == "failed" and logged
    for text in (out.error, state.last_error, logged[0]):
        assert "错误\ufffd[31m红色\ufffd反转 第二行\ufffd" in text, text
        assert not any(c in text for c in "\x1b\u202e\r\n\x00"), text
