"""Hostile ``joint-replacement`` statements posted to ``POST /exchange/v1/joint/{joint}/statements``
(joint/routes.py) by a participant, signed with its own key, between real bureaus on loopback.

A field of the wrong JSON type (``joint_plan_hash`` a number, ``cause`` or ``type`` a list) was
a 500: the checks behind the route compare and hash the fields as the strings they should be.
A statement of 900 KB (a ``replacement`` of 900,000 characters, under the 1 MiB body limit) was
refused with the whole value quoted back in the problem's detail. Now the first is a 422 naming
the field, the second a 422 whose detail is cut; nothing is held either way."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from draw.canonical import canonical_json
from exchange.httpsig import sign_request
from joint.protocol import sign_statement
from tests.joint.test_joint_replacements import JOINT, SH, ZJ, _drawn, _held, _recorded
from tests.joint.test_protocol import Trio, trio  # noqa: F401  (fixture)


def _post(t: Trio, joint: str, statement: dict[str, Any]) -> httpx.Response:
    """``statement`` signed by Shanghai's own key, posted by Shanghai to Zhejiang."""
    key = t.me[SH].key
    envelope = sign_statement(statement, key.origin, key.private)
    body = canonical_json({"envelope": envelope, "payload": ""})
    url = f"{t.b[ZJ].base_url}/exchange/v1/joint/{joint}/statements"
    headers = sign_request(key, "POST", url, body) | {"Content-Type": "application/json"}
    return httpx.post(url, content=body, headers=headers, timeout=60)


@pytest.fixture
def replaced(trio: Trio) -> dict[str, Any]:  # noqa: F811
    """Shanghai's first replacement in a joint round drawn everywhere, held by Zhejiang."""
    teams = _drawn(trio, JOINT)
    code, team = sorted(teams.items())[0]
    seat = next(i for i, (bureau, _) in enumerate(team) if bureau == SH)
    st = _recorded(trio, SH, JOINT, code, team[seat][1], "unavailable").statement
    assert _held(trio.b[ZJ].engine) == [st]
    return st


def test_a_field_of_the_wrong_type_is_a_422_naming_it(
    trio: Trio,  # noqa: F811
    replaced: dict[str, Any],
) -> None:
    nxt = replaced | {"n": 2, "withdrawn": replaced["replacement"]}
    cases = {
        "joint_plan_hash": replaced | {"joint_plan_hash": 123},
        "cause": nxt | {"cause": ["left"]},
        "type": nxt | {"type": ["joint-replacement"]},
    }
    for field, statement in cases.items():
        r = _post(trio, JOINT, statement)
        assert r.status_code == 422, (field, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert f"statement.{field}:" in r.json()["detail"], (field, r.text)
    assert _held(trio.b[ZJ].engine) == [replaced]


def test_a_huge_statement_is_refused_without_being_quoted_back(
    trio: Trio,  # noqa: F811
    replaced: dict[str, Any],
) -> None:
    huge = replaced | {"n": 2, "withdrawn": replaced["replacement"], "replacement": "x" * 900_000}
    r = _post(trio, JOINT, huge)
    assert r.status_code == 422, r.text[:300]
    assert len(r.json()["detail"]) < 2000
    assert "replacement:" in r.json()["detail"]
    assert _held(trio.b[ZJ].engine) == [replaced]
