"""A ceremony's request is checked before it takes the round (``api.adhoc.check_ceremony``).
By the API (``POST /rounds/adhoc`` with ``round_id`` and ``witness_digits``): a round that does
not exist was answered 202 naming it, and refused in the background; digits its draw refuses
(full-width "１２…", too few) were answered 202 too, and took the round first: the next
coordinator's good ceremony was refused 409 for digits that would never be drawn. On the
round's page: 100,000 digits, 5,000 witnesses or a name of 100,000 characters were read back
for the draw, all of them to be published with the round, where the API takes at most 200
digits and 50 names of 64 characters. Now the API answers 404 / 422 at once, naming the field,
and holds nothing; the page refuses what the API refuses, in its words. SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session

from api import tokens
from api.app import create_app
from rounds import audit
from shuangsui.config import get_settings
from tests.api.test_ceremony_hold import DIGITS, KEY, Deployment, _committed
from tests.findings.live import serve
from tests.workspace.helpers import coordinator_client, csrf_of
from workspace.adhoc import LABELS

WITNESSES = LABELS["witnesses"]


@pytest.fixture
def served(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str, Deployment]]:
    _committed(engine, tmp_path, monkeypatch)
    token = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    runner = Deployment()
    with serve(create_app(engine=engine, draw_runner=runner, adhoc_runner=runner.adhoc)) as base:
        yield base, token, runner


def _ceremony(base: str, token: str, round_id: str, digits: str) -> httpx.Response:
    body = {"plan": "ccc-2026-12", "reason": "投诉举报", "round_id": round_id,
            "witness_digits": digits, "witnesses": ["王五"]}  # fmt: skip
    auth = {"Authorization": f"Bearer {token}"}
    return httpx.post(f"{base}/rounds/adhoc", headers=auth, json=body, timeout=60)


def _entries(engine: sa.Engine, key: str) -> list[str]:
    with Session(engine) as s:
        return [e.event for e in audit.round_events(s, key)]


def test_the_apis_ceremony_of_no_round_or_of_digits_not_drawn_is_refused_at_once(
    served: tuple[str, str, Deployment], engine: sa.Engine
) -> None:
    base, token, runner = served
    missing = _ceremony(base, token, "ccc-2026-12-adhoc-9", DIGITS["李协调"])
    assert missing.status_code == 404, missing.text
    assert "round_id: round ccc-2026-12-adhoc-9 does not exist" in missing.json()["detail"]
    assert _entries(engine, "ccc-2026-12-adhoc-9") == []

    before = _entries(engine, KEY)
    for digits, said in [
        ("２７１８２８１８２８４５９０４５２３５３", "decimal digits 0-9 only"),
        ("2718", "4 digit(s)"),
        (DIGITS["王协调"] + " ", "decimal digits 0-9"),
    ]:
        r = _ceremony(base, token, KEY, digits)
        assert r.status_code == 422, (digits, r.text)
        assert r.json()["detail"].startswith("witness_digits: ") and said in r.text, r.text
    assert _entries(engine, KEY) == before and runner.started == []  # nothing held, nor run
    good = _ceremony(base, token, KEY, DIGITS["李协调"])
    assert good.status_code == 202, good.text


def test_the_pages_ceremony_takes_no_more_than_the_api(
    served: tuple[str, str, Deployment], engine: sa.Engine
) -> None:
    base, token, runner = served
    with coordinator_client(base, token, timeout=60) as http:
        form = {"csrf": csrf_of(http.get(f"/w/c/rounds/{KEY}").text)}
        for digits, witnesses, said in [
            ("1" * 201, "王五", f"{LABELS['witness_digits']}：有 201 位，最多 200 位"),
            (DIGITS["李协调"], "、".join(["王五"] * 51), f"{WITNESSES}：有 51 名，最多 50 名"),
            (DIGITS["李协调"], "王" * 65, f"{WITNESSES}：姓名最多 64 个字符"),
        ]:  # fmt: skip
            sent = form | {"witness_digits": digits, "witnesses": witnesses}
            r = http.post(f"/w/c/rounds/{KEY}/ceremony", data=sent)
            assert r.status_code == 422 and said in r.text, (said, r.status_code, r.text[-800:])
            assert "确认无误，开始摇号" not in r.text  # not read back for the draw
        sent = form | {"witness_digits": "1" * 200, "witnesses": "、".join(["王" * 64] * 50)}
        assert http.post(f"/w/c/rounds/{KEY}/ceremony", data=sent).status_code == 200
    assert runner.started == []


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        ({"divisions": ["abc"]}, "overrides: "),
        ({"divisions": ["35\x00"]}, "overrides: "),
        ({"rates": {"D": "1e9%"}}, "overrides.rates.D: "),
        ({"rates": {"\u202eD": "50%"}}, "overrides.rates.\u202eD: the plan has no rate"),
    ],
)
def test_an_ad_hoc_round_the_plan_cannot_take_is_refused_at_once(
    engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    overrides: dict[str, object],
    said: str,
) -> None:
    """A division code or a rate no plan takes was answered 202 with a round key, and the round
    refused in the background; now 422 at once naming the override, and nothing started."""
    from api import adhoc

    _committed(engine, tmp_path, monkeypatch)
    token = tokens.create_coordinator(engine, "李协调", get_settings().bureau_code)
    with serve(create_app(engine=engine)) as base:
        body = {"plan": "ccc-2026-12", "reason": "投诉举报"} | overrides
        auth = {"Authorization": f"Bearer {token}"}
        r = httpx.post(f"{base}/rounds/adhoc", headers=auth, json=body, timeout=60)
        assert r.status_code == 422, r.text
        assert r.json()["detail"].startswith(said), r.text
    assert not adhoc.wait_for_running(timeout=1), "no round was started"
