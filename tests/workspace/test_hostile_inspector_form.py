"""The inspector's form with a field sent twice, over real HTTP (a script's form; the page
sends each once): the last was recorded (``result=no_problem&…&result=no_activity`` made
version 1 no_activity, signed), where the API refuses a key twice (422 ``body.result``).
Now 422 naming the field, nothing saved: no version, no draft, no signature."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from findings import service
from rounds.models import AuditEvent
from tests.findings.factories import ROUND
from tests.workspace.helpers import csrf_of, open_assignment

FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场检查，证书有效"}


def _post(http: httpx.Client, path: str, pairs: list[tuple[str, str]]) -> httpx.Response:
    body = str(httpx.QueryParams(pairs)).encode()
    kind = {"Content-Type": "application/x-www-form-urlencoded"}
    return http.post(path, content=body, headers=kind)


def _events(engine: sa.Engine) -> list[str]:
    with Session(engine) as s:
        return list(s.exec(select(AuditEvent.event)).all())


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (("result", "no_activity"), "检查结果：表单中填写了不止一次"),
        (("description", "另一段"), "检查情况：表单中填写了不止一次"),
        (("measure_kind", "rectify"), "处理措施：表单中填写了不止一次"),
        (("measure_deadline", "2026-12-20"), "改正期限：表单中填写了不止一次"),
        (("reason", "另一个"), "说明：表单中填写了不止一次"),
        (("base_version", "0"), "表单中的版本号填写了不止一次"),
    ],
)
def test_a_field_sent_twice_saves_nothing(
    live: tuple[str, dict], engine: sa.Engine, extra: tuple[str, str], said: str
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        pairs = [("csrf", csrf_of(html)), ("base_version", "0"), *FORM.items(),
                 ("measure_kind", ""), ("measure_deadline", ""), ("reason", ""),
                 ("action", "submit"), extra]  # fmt: skip
        r = _post(http, path, pairs)
        assert r.status_code == 422, r.text[:300]
        assert said in r.text
        assert "已保存" not in http.get(path).text  # no draft either
    assert service.history(engine, ROUND, code).versions == []
    assert "DraftSaved" not in _events(engine)


def test_a_certificate_twice_and_a_version_to_sign_twice_are_refused(
    live: tuple[str, dict], engine: sa.Engine
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    with httpx.Client(base_url=base) as http:
        path, html = open_assignment(http, base, code, team[0])
        cert = next(n for n in html.split('name="')[1:] if n.startswith("cert:")).split('"')[0]
        pairs = [("csrf", csrf_of(html)), ("base_version", "0"), *FORM.items(),
                 (cert, "kept"), (cert, "suspended"), ("action", "submit")]  # fmt: skip
        r = _post(http, path, pairs)
        assert r.status_code == 422 and "表单中填写了不止一次" in r.text
        label = cert.removeprefix("cert:").replace(":", " ")
        assert f"证书处理“{label}”：表单中填写了不止一次" in r.text
        done = _post(http, path, [p for p in pairs if p != (cert, "suspended")])
        assert done.status_code == 303, done.text[:300]
    with httpx.Client(base_url=base) as other:
        path, html = open_assignment(other, base, code, team[1])
        sign = [("csrf", csrf_of(html)), ("version", "2"), ("version", "1")]
        r = _post(other, f"{path}/sign", sign)
        assert r.status_code == 422 and "签字表单中的版本号填写了不止一次" in r.text
    (state,) = service.history(engine, ROUND, code).states
    assert state.signed_by == (team[0],)  # the refused signature was not given
