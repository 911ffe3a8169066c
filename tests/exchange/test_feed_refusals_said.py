"""What Fujian's real ``shuangsui serve`` (the configured bureau, SQLite and PostgreSQL) says
when it refuses a request to its feed for its key or its time, and what a partner's sync then
says: the 401's detail is all the caller learns.

- A key no partner of the directory has (a stranger's, a partner revoked with ``keys = []``):
  the detail was the library's "Unable to resolve verification key", whichever it was. Now it
  names the keyid and says it is not a key of a partner in the server's directory.
- A partner whose clock is an hour ahead or behind: the detail was 'Signature "created"
  parameter is set to a time in the future' (or "expires" … "in the past"): which clock, and
  by how much, was not said. Now it gives the signature's time, the server's clock and the
  difference, and says to check both clocks.
- A parameter given twice (``start=0&start=2``) was read as its last value, silently; now it
  is refused (422), naming it.
- The server's log line of a refusal quoted the URL built from the request's ``Host`` header
  (the caller's words); it quotes the URL partners sign (``SHUANGSUI_EXCHANGE_PUBLIC_URL``).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import httpx
import pytest

from exchange import httpsig
from exchange.directory import load_directory
from exchange.keys import load_or_create
from exchange.sync import sync_partner
from tests.exchange import test_hostile_answers
from tests.exchange.bureaus import make_bureau, write_directory

fujian = test_hostile_answers.fujian  # Fujian's own serve, a real process; its port
PATH = "/exchange/v1/checkpoint"
AT = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def _detail(port: int, key: object, host: str = "127.0.0.1", **sign: object) -> str:
    url = f"http://127.0.0.1:{port}{PATH}"
    headers = httpsig.sign_request(key, "GET", url, **sign)  # type: ignore[arg-type]
    resp = httpx.get(url, headers=headers | {"Host": host}, timeout=30)
    assert resp.status_code == 401, resp.text
    return str(resp.json()["detail"])


@pytest.mark.slow
def test_a_key_of_no_partner_is_named(fujian: int, tmp_path: Path) -> None:
    sh = make_bureau(tmp_path, "310000")
    js = make_bureau(tmp_path, "320000")
    sh.base_url = js.base_url = "http://127.0.0.1:9"
    path = tmp_path / "home" / "partners.toml"
    write_directory(path, [sh, js])
    path.write_text(path.read_text().replace(f'keys = ["{js.key.public.text}"]', "keys = []"))
    stranger = load_or_create(tmp_path / "zj-keys", "330000")
    for key in (js.key, stranger):
        kid = key.public.http_key_id
        assert _detail(fujian, key, host="elsewhere.example") == (
            f"signature rejected: keyid '{kid}' is not a key of a partner in the server's "
            "directory (unknown to it, or removed or revoked there)"
        )
    log = (tmp_path / "serve-350000.log").read_text()
    assert f"partner request refused: GET http://127.0.0.1:{fujian}{PATH}: " in log
    assert "elsewhere.example" not in log


@pytest.mark.slow
def test_a_clock_far_off_is_said_with_the_server_s_clock(fujian: int, tmp_path: Path) -> None:
    sh = make_bureau(tmp_path, "310000")
    sh.base_url = "http://127.0.0.1:9"
    write_directory(tmp_path / "home" / "partners.toml", [sh])
    now = dt.datetime.now(dt.UTC)
    ahead = _detail(fujian, sh.key, now=now + dt.timedelta(hours=1))
    assert re.fullmatch(
        rf"signature rejected: created {AT}, 3[56]\d\d s after the server's clock \({AT}\): "
        "check the clocks of both bureaus",
        ahead,
    ), ahead
    behind = _detail(fujian, sh.key, now=now - dt.timedelta(hours=1))
    assert re.fullmatch(
        rf"signature rejected: expires {AT}, 3[56]\d\d s before the server's clock \({AT}\): "
        "send it again, signed afresh; if it was, check the clocks of both bureaus",
        behind,
    ), behind


@pytest.mark.slow
def test_a_sync_of_a_partner_whose_clock_is_off_says_so(
    fujian: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shanghai (on SQLite) syncs Fujian's serve with its clock an hour ahead."""
    sh = make_bureau(tmp_path, "310000")
    sh.base_url = "http://127.0.0.1:9"
    write_directory(tmp_path / "home" / "partners.toml", [sh])
    fj_key = load_or_create()
    fj = make_bureau(tmp_path / "fj-as-partner", "350000")
    fj.key, fj.base_url = fj_key, f"http://127.0.0.1:{fujian}"
    write_directory(sh.home / "partners.toml", [fj])
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    real = httpsig.sign_request
    monkeypatch.setattr("exchange.client.sign_request", lambda *a, **k: real(*a, **k, now=ahead))
    monkeypatch.setenv("SHUANGSUI_PARTNERS_FILE", str(sh.home / "partners.toml"))
    out = sync_partner(sh.engine, load_directory()["350000"], key=sh.key, timeout=10)
    assert out.status == "failed", out
    assert re.fullmatch(
        rf"partner 350000: GET http://127.0.0.1:{fujian}{PATH} answered HTTP 401: signature "
        rf"rejected: created {AT}, 3[56]\d\d s after the server's clock \({AT}\): check the "
        "clocks of both bureaus",
        out.error or "",
    ), out.error


@pytest.mark.slow
def test_a_parameter_given_twice_is_refused_naming_it(fujian: int, tmp_path: Path) -> None:
    """``start=0&start=2`` was answered from 2 (the framework keeps the last value), where a
    proxy or the partner's own client may have read 0."""
    sh = make_bureau(tmp_path, "310000")
    sh.base_url = "http://127.0.0.1:9"
    write_directory(tmp_path / "home" / "partners.toml", [sh])
    base = f"http://127.0.0.1:{fujian}/exchange/v1"
    for query, name in [
        ("/entries?start=0&start=0", "start"),
        ("/entries?start=0&end=0&end=0&end=0", "end"),
        ("/entries?limit=1&limit=2", "limit"),
        ("/proof/inclusion?index=0&size=1&size=1", "size"),
        ("/proof/consistency?first=0&first=0&second=0", "first"),
    ]:
        n = query.count(f"{name}=")
        signed = httpsig.sign_request(sh.key, "GET", base + query)
        resp = httpx.get(base + query, headers=signed, timeout=30)
        assert resp.status_code == 422, (query, resp.text)
        assert resp.json()["detail"] == f"{name}: given {n} times; once is needed", resp.text
        assert resp.json()["errors"] == [
            {"field": f"query.{name}", "reason": f"given {n} times; once is needed"}
        ]
        assert httpx.get(base + query, timeout=30).status_code == 401  # unsigned: no more said
    once = httpx.get(base + "/entries?start=0", headers=httpsig.sign_request(
        sh.key, "GET", base + "/entries?start=0"), timeout=30)  # fmt: skip
    assert once.status_code == 200, once.text
