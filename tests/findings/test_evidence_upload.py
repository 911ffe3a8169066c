"""Evidence uploads through the API on a real server: one that ends early leaves no temporary
file (a client that hangs up in the middle of its body, a streamed body past the limit); every
allowed kind is stored and sent back as an attachment that is never sniffed; bytes not of their
declared type are refused and leave nothing."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from findings.evidence import evidence_dir
from findings.models import Evidence
from notifications.links import assignment_token
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.findings.live import serve
from tests.findings.media_samples import PDF, SAMPLES, ZIP
from tests.workspace.helpers import PNG


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
        yield b"\xff\xd8\xff\xe0"  # a JPEG's signature
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
            writer.write(b"\xff\xd8\xff\xe0jpeg")
            writer.finish()
    assert _uploads(evidence_dir(tmp_path)) == []


# ---------------------------------------------------------------- every kind, through the API


def _rows(engine: sa.Engine) -> list[str]:
    with Session(engine) as db:
        return [r.sha256 for r in db.exec(select(Evidence))]


def test_every_kind_goes_through_the_api_and_comes_back_as_an_attachment(
    engine: sa.Engine, upload: tuple[str, str]
) -> None:
    path, token = upload
    path = path.split("?", 1)[0]
    coordinator = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        for declared, name, data in SAMPLES:
            r = http.post(
                path,
                params={"filename": name},
                content=data,
                headers={"Authorization": f"Bearer {token}", "Content-Type": declared},
            )
            assert r.status_code == 201, r.text
            assert r.json()["media_type"] == declared and r.json()["size"] == len(data)
            got = http.get(
                f"/evidence/{r.json()['sha256']}",
                headers={"Authorization": f"Bearer {coordinator}"},
            )
            assert got.content == data
            assert got.headers["content-type"].split(";")[0] == declared
            assert got.headers["x-content-type-options"] == "nosniff"
            disposition = got.headers["content-disposition"]
            assert disposition.startswith("attachment; filename=")
            assert disposition.endswith(f"; filename*=UTF-8''{quote(name, safe='')}")
    assert len(_rows(engine)) == len(SAMPLES)


def test_the_api_refuses_bytes_that_are_not_their_declared_type_and_stores_nothing(
    engine: sa.Engine, upload: tuple[str, str]
) -> None:
    path, token = upload
    path = path.split("?", 1)[0]
    sent = [
        ("image/png", "资料.zip", ZIP, "application/zip", "a ZIP archive"),
        ("application/pdf", "gate.pdf", PNG, "image/png", "a PNG image"),
    ]
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        for declared, name, data, found, said in sent:
            r = http.post(
                path,
                params={"filename": name},
                content=data,
                headers={"Authorization": f"Bearer {token}", "Content-Type": declared},
            )
            assert r.status_code == 422
            assert r.headers["content-type"] == "application/problem+json"
            problem = r.json()
            assert problem["type"] == "urn:shuangsui:problem:evidence-mismatch"
            assert (problem["declared"], problem["looks_like"]) == (declared, found)
            assert f"'{name}' is declared as {declared}" in problem["detail"]
            assert f"looks like {said}" in problem["detail"]
        # a large file is refused on its first bytes, the rest never stored
        r = http.post(
            path,
            content=ZIP[:4] + b"\0" * 3_000_000,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "image/heic"},
        )
        assert r.status_code == 422 and r.json()["looks_like"] == "application/zip"
        assert http.get("/health").status_code == 200
    folder = evidence_dir(get_settings().home)
    assert list(folder.iterdir()) == [] and _rows(engine) == []


def test_a_file_name_with_quotes_comes_back_encoded(
    engine: sa.Engine, upload: tuple[str, str]
) -> None:
    path, token = upload
    name = 'a"b  Set-Cookie: x=1;.pdf'
    coordinator = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        r = http.post(
            path.split("?", 1)[0],
            params={"filename": name},
            content=PDF,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
        )
        assert r.status_code == 201
        got = http.get(
            f"/evidence/{r.json()['sha256']}", headers={"Authorization": f"Bearer {coordinator}"}
        )
    assert "set-cookie" not in got.headers
    assert got.headers.get_list("content-disposition") == [
        'attachment; filename="a_b  Set-Cookie: x=1_.pdf"; '
        "filename*=UTF-8''a%22b%20%20Set-Cookie%3A%20x%3D1%3B.pdf"
    ]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a\r\nSet-Cookie: x=1.pdf", "contains the control character U+000D"),
        ("现场\u202egpj.exe", "contains the invisible character U+202E"),
        ("照片\u200b.jpg", "contains the invisible character U+200B"),
        ("../../etc/passwd", "a file name, not a path"),
        ("C:\\现场\\照片.jpg", "a file name, not a path"),
        ("照" * 256, "at most 255 characters"),
        *((dots, "is not a file name") for dots in ("..", ".", "...", " . ", ". .")),
    ],
)
def test_a_file_name_that_is_not_one_is_refused(
    engine: sa.Engine, upload: tuple[str, str], name: str, reason: str
) -> None:
    """Control and invisible characters, a path, and a name of dots and spaces alone (served
    back as ``filename=".."``) were stored as the evidence's name as sent (a right-to-left
    override shows ``现场exe.jpg``)."""
    path, token = upload
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        r = http.post(
            path.split("?", 1)[0],
            params={"filename": name},
            content=PDF,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
        )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    [error] = r.json()["errors"]
    assert error["field"] == "query.filename" and reason in error["reason"], error
    assert _rows(engine) == []
