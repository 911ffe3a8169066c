"""An evidence upload that ends early leaves no temporary file: a client that hangs up in the
middle of its body (raw socket, real server), or one whose streamed body passes the limit."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from findings.evidence import evidence_dir
from notifications.links import assignment_token
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.findings.live import serve


def _uploads(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".upload-*")) if folder.exists() else []


def _until(check: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


@pytest.fixture
def upload(engine: sa.Engine) -> tuple[str, str]:
    code, team = sorted(drawn_round(engine).items())[0]
    token = assignment_token(get_settings().secret_key.get_secret_value(), ROUND, code, team[0])
    return f"/findings/{ROUND}/{code}/evidence?filename=photo.jpg", token


def test_a_client_that_hangs_up_leaves_no_temporary_file(
    engine: sa.Engine, upload: tuple[str, str]
) -> None:
    path, token = upload
    folder = evidence_dir(get_settings().home)
    with serve(create_app(engine=engine)) as base:
        port = int(base.rsplit(":", 1)[1])
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: image/jpeg\r\n"
            "Content-Length: 2000000\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head + b"\xff\xd8\xff\xe0" + b"\0" * 65_532)
            # the server is streaming it to a temporary file now
            assert _until(lambda: bool(_uploads(folder))), "the upload never started"
        # the client has gone with 1.9 MB unsent
        assert _until(lambda: not _uploads(folder)), _uploads(folder)
        assert list(folder.iterdir()) == []
        with httpx.Client(base_url=base, timeout=10) as http:  # the server is still well
            assert http.get("/health").status_code == 200


def test_a_streamed_body_over_the_limit_leaves_no_temporary_file(
    engine: sa.Engine, upload: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, token = upload
    monkeypatch.setenv("SHUANGSUI_EVIDENCE_MAX_BYTES", "100000")
    folder = evidence_dir(get_settings().home)

    def body():  # no Content-Length: the limit is found while streaming
        for _ in range(20):
            yield b"\0" * 16_384

    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        r = http.post(
            path,
            content=body(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"},
        )
    assert r.status_code == 413 and "larger than 100000 bytes" in r.json()["detail"]
    assert _uploads(folder) == []


def test_a_failed_rename_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    from findings import evidence
    from findings.settings import FindingsSettings

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(evidence.os, "replace", full)
    with pytest.raises(OSError, match="No space"):
        with evidence.EvidenceWriter(tmp_path, "image/jpeg", FindingsSettings()) as writer:
            writer.write(b"jpeg")
            writer.finish()
    assert _uploads(evidence_dir(tmp_path)) == []
