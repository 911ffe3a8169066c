"""Photos and files posted on the inspector's page under names the API refuses (its
``query.filename``): a right-to-left override or a zero-width space, a NUL or an escape, a
folder's path. The page stored them, and the finding's schema then refused the draft's file
name at every 提交, with no way on the page to rename or remove the file; a NUL reached the
database. Now each such file is refused as it arrives, named, and nothing of it is stored."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from findings import service
from findings.models import Evidence
from tests.findings.factories import ROUND
from tests.workspace.helpers import PNG, csrf_of, open_assignment

FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场检查，证书有效"}


def _multipart(fields: dict[str, str], filename: bytes) -> tuple[bytes, str]:
    """A form with one photo whose file name is ``filename``, byte for byte (httpx would
    percent-encode a NUL in it; a client need not)."""
    boundary = "----red-boundary-7f3a"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    ]
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="'.encode()
        + filename
        + b'"\r\nContent-Type: image/png\r\n\r\n'
    )
    body = b"".join(parts) + head + PNG + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _stored(engine: sa.Engine) -> list[Evidence]:
    with Session(engine) as db:
        return list(db.exec(select(Evidence)))


@pytest.mark.parametrize(
    ("name", "shown", "said"),
    [
        ("现场\u202egnp.exe.png", "现场gnp.exe.png", "U+202E"),
        ("现场\u200b照片.png", "现场照片.png", "U+200B"),
        ("../../etc/passwd.png", "../../etc/passwd.png", "不能有“/”或“\\”"),
        ("照片/现场.png", "照片/现场.png", "不能有“/”或“\\”"),
    ],
)
def test_a_file_name_the_api_refuses_is_refused_on_the_page(
    live: tuple[str, dict], engine: sa.Engine, name: str, shown: str, said: str
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        r = http.post(path, data={"csrf": csrf_of(html), **FORM, "action": "submit"},
                      files={"photo": (name, PNG, "image/png")})  # fmt: skip
        assert r.status_code == 422, r.text[:300]
        assert f"文件“{shown}”未保存：" in r.text and said in r.text
        assert name not in r.text or name == shown  # never shown with its invisible mark
        again = http.get(path)
        assert "已添加的" not in again.text  # nothing in the draft
        # the form without the file is then submitted
        done = http.post(path, data={"csrf": csrf_of(html), **FORM, "action": "submit"})
        assert done.status_code == 303, done.text[:300]
    assert _stored(engine) == []
    (version,) = service.history(engine, ROUND, code).versions
    assert version.evidence == []


@pytest.mark.parametrize("name", [b"a\x00b.png", b"a\x1bb.png", b"a\x7fb.png"])
def test_a_control_character_in_a_file_name_stores_nothing(
    live: tuple[str, dict], engine: sa.Engine, name: bytes
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        body, kind = _multipart({"csrf": csrf_of(html), **FORM, "action": "draft"}, name)
        r = http.post(path, content=body, headers={"Content-Type": kind})
        assert r.status_code == 422, r.text[:300]
        assert "文件“ab.png”未保存：文件名中有看不见的字符" in r.text
    assert _stored(engine) == []
