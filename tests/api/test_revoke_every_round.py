"""A revocation of every round covers the links a lost phone could hold: those of the rounds
drawn until it was made. A round drawn afterwards sends new links, which open; the old ones
stay refused (a five-years pass found an inspector revoked once refused in every later round)."""

from __future__ import annotations

import warnings

import pytest
import sqlalchemy as sa

from api import inspector_tokens
from api.app import create_app
from notifications.links import assignment_token
from rounds import service as rounds
from shuangsui.config import get_settings
from shuangsui.errors import UserError
from tests.findings.factories import ROUND, drawn_round, teams
from tests.rounds.factories import plan_yaml

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

LATER = "ccc-2027-01"


def _draw_later_round(engine: sa.Engine) -> dict[str, list[str]]:
    rounds.commit_round(engine=engine, plan_text=plan_yaml(plan_id=LATER, period="2027-01"))
    rounds.draw_round(
        engine=engine,
        round_key=LATER,
        entropy=rounds.EntropyInput(
            witness_digits="2718281828459045235360287", witnesses=("张三",)
        ),
    )
    return teams(engine, LATER)


def _status(client: TestClient, round_key: str, code: str, inspector: str) -> tuple[int, str]:
    secret = get_settings().secret_key.get_secret_value()
    link = assignment_token(secret, round_key, code, inspector)
    r = client.get(f"/findings/{round_key}/{code}", params={"token": link})
    slug = r.json().get("type", "") if r.status_code >= 400 else ""
    return r.status_code, slug.rsplit(":", 1)[-1]


def test_a_revocation_of_every_round_leaves_rounds_drawn_later_open(engine: sa.Engine) -> None:
    before = drawn_round(engine)
    revoked = {member for team in before.values() for member in team}
    for member in sorted(revoked):
        inspector_tokens.revoke(engine, member, by="王五", reason="phone lost")
    later = _draw_later_round(engine)
    code, inspector = next(
        (c, m) for c, team in sorted(later.items()) for m in team if m in revoked
    )
    old_code = next(c for c, team in sorted(before.items()) if inspector in team)
    client = TestClient(create_app(engine=engine))

    assert _status(client, LATER, code, inspector) == (200, "")  # the new link opens
    assert _status(client, ROUND, old_code, inspector) == (401, "token-revoked")

    # a second phone lost, after the later round: revoked again, both rounds are covered
    inspector_tokens.revoke(engine, inspector, by="王五", reason="second phone lost")
    assert _status(client, LATER, code, inspector) == (401, "token-revoked")
    assert _status(client, ROUND, old_code, inspector) == (401, "token-revoked")
    # with no round drawn since, a revocation would cover nothing new
    with pytest.raises(UserError, match="already revoked"):
        inspector_tokens.revoke(engine, inspector, by="王五")
    listed = [r for r in inspector_tokens.revoked(engine) if r.inspector_id == inspector]
    assert [r.reason for r in listed] == ["second phone lost"]
