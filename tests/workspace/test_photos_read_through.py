"""The inspector's findings form over real HTTP (the app served by uvicorn on 127.0.0.1), its
photos together past ``SHUANGSUI_EVIDENCE_MAX_BYTES``. The post used to be refused before it was
read (the limit bounded the body as a whole), so everything typed was lost but for the browser's
返回, and one photo near the limit with the form's text was refused for the text. Now the body
is read through up to a ceiling (``workspace.photo_form``): the text is kept as the draft, every
photo that fits is stored, each one that does not is named with its size and the limit, and a
body past the ceiling is cut off, its text kept all the same."""

from __future__ import annotations

import contextlib
import html
import select
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from findings import service
from shuangsui.config import get_settings
from tests.findings.factories import ROUND
from tests.findings.live import serve
from tests.servers import wait_until, wait_until_read
from tests.workspace.helpers import csrf_of, delivered_round, open_assignment
from workspace import drafts

LIMIT = 512 * 1024  # said 512 KB; the ceiling 4 times it, 2 MB
TYPED = "铭牌与证书一致，现场拍照三张"
FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": TYPED}


def _jpeg(size: int, fill: bytes = b"j") -> bytes:
    return b"\xff\xd8\xff\xe0" + fill * (size - 6) + b"\xff\xd9"


@pytest.fixture
def limited(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict]]:
    monkeypatch.setenv("SHUANGSUI_EVIDENCE_MAX_BYTES", str(LIMIT))
    teams = delivered_round(engine, monkeypatch)
    with serve(create_app(engine=engine)) as base:
        yield base, teams


def _draft(code: str, member: str) -> dict:
    return drafts.load(get_settings().home, ROUND, code, member)


def _posted(base: str, code: str, member: str, files: list, action: str) -> httpx.Response:
    """The member's form posted with the text of ``FORM`` and ``files``, as the page sends it."""
    with httpx.Client(base_url=base, timeout=60) as http:
        path, page = open_assignment(http, base, code, member)
        form = {"csrf": csrf_of(page), **FORM, "action": action}
        return http.post(path, data=form, files=files, follow_redirects=False)


def test_photos_past_the_limit_are_named_and_the_rest_kept_as_the_draft(
    engine: sa.Engine, limited: tuple[str, dict]
) -> None:
    base, teams = limited
    code, (a, _b) = sorted(teams.items())[0]
    photos = [
        ("photo", ("gate.jpg", _jpeg(300 * 1024, b"g"), "image/jpeg")),
        ("photo", ("plate.jpg", _jpeg(300 * 1024, b"p"), "image/jpeg")),  # past 512 KB
        ("photo", ("label.jpg", _jpeg(100 * 1024, b"l"), "image/jpeg")),  # fits after it
    ]
    r = _posted(base, code, a, photos, "submit")
    assert r.status_code == 422, r.text[:500]
    said = html.unescape(r.text)
    assert "照片“plate.jpg”（300 KB）未保存：一次保存或提交的照片和文件合计不能超过 512 KB" in said
    assert "gate.jpg”（" not in said and "label.jpg”（" not in said
    assert f">{TYPED}</textarea>" in said  # the form given back with its text
    assert 'id="attachments-error-1"' in r.text  # said beside the photos
    draft = _draft(code, a)
    assert draft["description"] == TYPED and draft["result"] == "no_problem"
    assert [e["filename"] for e in draft["evidence"]] == ["gate.jpg", "label.jpg"]
    assert service.history(engine, ROUND, code).versions == []  # not submitted: a photo missing


def test_one_photo_at_the_limit_with_the_fields_is_submitted(
    engine: sa.Engine, limited: tuple[str, dict]
) -> None:
    base, teams = limited
    code, (a, _b) = sorted(teams.items())[0]
    r = _posted(base, code, a, [("photo", ("whole.jpg", _jpeg(LIMIT), "image/jpeg"))], "submit")
    assert r.status_code == 303 and r.headers["location"].endswith("?submitted=1"), r.text
    # a byte more is the file's own limit: refused by name, the text kept
    r = _posted(base, code, a, [("photo", ("more.jpg", _jpeg(LIMIT + 1), "image/jpeg"))], "draft")
    assert r.status_code == 422 and "“more.jpg”（512 KB）未保存" in html.unescape(r.text)
    (version,) = service.history(engine, ROUND, code).versions
    assert [e["filename"] for e in version.evidence] == ["whole.jpg"]


def _multipart(boundary: str, fields: dict[str, str], photo: int) -> Iterator[bytes]:
    """The form's text, then one photo of ``photo`` bytes made as it is sent."""
    for name, value in fields.items():
        yield (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
               f"{value}\r\n").encode()  # fmt: skip
    disposition = 'form-data; name="photo"; filename="big.jpg"'
    yield (f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
           "Content-Type: image/jpeg\r\n\r\n").encode() + b"\xff\xd8"  # fmt: skip
    for _ in range(photo // 65536):
        yield b"c" * 65536
    yield f"\r\n--{boundary}--\r\n".encode()


def _sent_until_answered(sock: socket.socket, chunks: Iterator[bytes]) -> int:
    """Send ``chunks`` chunked until the answer is there (stop then, as a browser does) or the
    server stops reading; how many bytes of the body went."""
    sent = 0
    for chunk in chunks:
        answered, _, _ = select.select([sock], [], [], 0)
        if answered:
            return sent
        try:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:  # reset or broken pipe: the server closed the connection
            return sent
        sent += len(chunk)
    return sent


def _answer(sock: socket.socket) -> bytes:
    parts = []
    with contextlib.suppress(ConnectionResetError):
        parts.extend(iter(lambda: sock.recv(65536), b""))
    return b"".join(parts)


def test_a_post_past_the_ceiling_is_cut_off_and_its_text_kept_as_the_draft(
    engine: sa.Engine, limited: tuple[str, dict]
) -> None:
    base, teams = limited
    code, (a, _b) = sorted(teams.items())[0]
    with httpx.Client(base_url=base, timeout=60) as http:
        path, page = open_assignment(http, base, code, a)
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    fields = {"csrf": csrf_of(page), **FORM, "action": "submit"}
    boundary = "shuangsui-read-through"
    head = (f"POST {path} HTTP/1.1\r\nHost: {urlsplit(base).netloc}\r\nOrigin: {base}\r\n"
            f"Cookie: {cookie}\r\nTransfer-Encoding: chunked\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n")  # fmt: skip
    with socket.create_connection(urlsplit(base)[1].split(":"), timeout=60) as sock:
        sock.sendall(head.encode())
        body = _multipart(boundary, fields, 20 * LIMIT)  # 10 MB, past the 2 MB ceiling
        sent = _sent_until_answered(sock, body)
        answer = _answer(sock)
    head_bytes, _, body = answer.partition(b"\r\n\r\n")
    assert head_bytes.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"connection: close" in head_bytes.lower()
    said = html.unescape(body.decode())
    assert "提交的内容超过了 2 MB 的上限" in said and "已填写的文字已保存为草稿" in said
    assert f">{TYPED}</textarea>" in said
    assert sent < 20 * LIMIT, f"all {sent} bytes were read: the body was not cut off"
    draft = _draft(code, a)
    assert draft["description"] == TYPED and draft["evidence"] == []
    assert service.history(engine, ROUND, code).versions == []


def test_text_past_its_bound_is_refused_and_nothing_saved(live: tuple[str, dict]) -> None:
    """The text is held in memory as it is read: three fields of 900 KB (each under the
    parser's 1 MiB a field) pass the 2 MiB the text of one post may have together (the photos'
    limit the default 25 MB here, so the ceiling is far)."""
    base, teams = live
    code, (a, _b) = sorted(teams.items())[0]
    long = "甲" * (300 * 1024)  # 900 KB in UTF-8
    text = [(name, (None, long)) for name in ("description", "internal_note", "measure_text")]
    r = _posted(base, code, a, text, "draft")
    assert r.status_code == 400, r.text[:300]
    assert "表单无法读取：表单中的文字合计超过 2 MiB。未保存任何内容。" in html.unescape(r.text)
    assert _draft(code, a) == {}


def test_a_line_dropped_mid_photo_keeps_the_text_as_the_draft(
    engine: sa.Engine, live: tuple[str, dict]
) -> None:
    """A phone on a weak signal loses its line while the form's photo goes up: the text, sent
    before the photo and read whole by the server, was dropped with the post (the parser's
    ClientDisconnect went up as an error) and the form, typed on the factory floor, was gone.
    Now the text read is saved as the draft (no file of the post: none came whole)."""
    base, teams = live
    code, (a, _b) = sorted(teams.items())[0]
    with httpx.Client(base_url=base, timeout=60) as http:
        path, page = open_assignment(http, base, code, a)
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    fields = {"csrf": csrf_of(page), "base_version": "0", **FORM}
    boundary = "shuangsui-line-dropped"
    sent = b"".join(_multipart(boundary, fields, 10 * 65536))[: -(8 * 65536)]  # mid-photo
    head = (f"POST {path} HTTP/1.1\r\nHost: {urlsplit(base).netloc}\r\nOrigin: {base}\r\n"
            f"Cookie: {cookie}\r\nContent-Length: {len(sent) + 8 * 65536}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n")  # fmt: skip
    with socket.create_connection(urlsplit(base)[1].split(":"), timeout=60) as sock:
        sock.sendall(head.encode() + sent)
        wait_until_read(sock)  # the server has read it all
    # the line is gone with 512 KB of the photo unsent
    wait_until("the draft the dropped post leaves", lambda: _draft(code, a))
    draft = _draft(code, a)
    assert draft.get("description") == TYPED and draft["evidence"] == [], draft
    assert service.history(engine, ROUND, code).versions == []
    with httpx.Client(base_url=base, timeout=10) as http:  # the server is still well
        assert http.get("/health").status_code == 200
