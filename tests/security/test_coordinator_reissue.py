"""A coordinator's name outlives a revoked token: ``tokens create-coordinator NAME`` for a name
whose token was revoked issues a new token under that name (audited), the old token and every
session opened with it stay refused, and a name whose token is live is refused with a message
that says so and what to do."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from findings.models import CoordinatorToken, Finding
from rounds import audit
from shuangsui import writes
from shuangsui.config import get_settings
from shuangsui.errors import UserError
from tests.deploy.procs import REPO_ROOT, clean_env, run
from tests.findings.factories import ROUND, drawn_round
from tests.races import held_while
from tests.servers import serve_app
from tests.workspace.helpers import sign_in

NAME = "probe2"
ACTIVE = (
    f"a token named '{NAME}' exists and is active; revoke it first "
    f"(shuangsui tokens revoke-coordinator {NAME})"
)


def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    done = run([sys.executable, "-m", "shuangsui", "tokens", *args], env=env, cwd=REPO_ROOT)
    return done.returncode, str(done.stdout)


def _issued(engine: sa.Engine) -> list[dict[str, object]]:
    with Session(engine) as s:
        chain = audit.load_chain(s)
    audit.verify_chain(chain)
    return [json.loads(e.payload) for e in chain if e.event == "CoordinatorTokenIssued"]


def test_a_revoked_name_is_issued_a_new_token_and_the_old_one_stays_refused(
    engine: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    env = clean_env(
        SHUANGSUI_HOME=str(tmp_path / "cli-home"),
        SHUANGSUI_DATABASE_URL=db_url,
        SHUANGSUI_ENVIRONMENT="test",
    )
    rc, old = _cli(env, "create-coordinator", NAME)
    assert rc == 0 and old.strip().startswith(tokens.PREFIX), old
    old = old.strip()
    with serve_app(create_app(engine=engine)) as base:
        with httpx.Client(base_url=base, timeout=30) as kept:  # a session opened with the old
            assert sign_in(kept, f"/w/c/open?token={old}").status_code == 303
            assert kept.get("/w/c/").status_code == 200

            assert _cli(env, "revoke-coordinator", NAME) == (0, f"token of {NAME} revoked\n")
            rc, said = _cli(env, "revoke-coordinator", NAME)
            assert rc == 2 and f"the token of '{NAME}' is already revoked" in said, said

            rc, new = _cli(env, "create-coordinator", NAME)  # the same name, issued again
            assert rc == 0, new
            new = new.strip()
            assert new.startswith(tokens.PREFIX) and new != old
            rc, said = _cli(env, "create-coordinator", NAME)  # live: refused, saying so
            assert (rc, said.strip()) == (2, f"error: {ACTIVE}"), said

            # the old token and the session it opened stay refused; the new one works
            refused = kept.get("/w/c/")
            assert refused.status_code == 401 and "协调员令牌已被撤销或更换" in refused.text
            assert kept.get("/rounds", headers={"Authorization": f"Bearer {old}"}).json()[
                "type"
            ] == ("urn:shuangsui:problem:token-refused")
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get(f"/w/c/open?token={old}").status_code == 403
            r = http.get("/rounds", headers={"Authorization": f"Bearer {new}"})
            assert r.status_code == 200, r.text
            assert sign_in(http, f"/w/c/open?token={new}").status_code == 303
            assert http.get("/w/c/").status_code == 200

    bureau = get_settings().bureau_code
    assert _issued(engine) == [
        {"name": NAME, "bureau_code": bureau, "reissued": False},
        {"name": NAME, "bureau_code": bureau, "reissued": True},
    ]
    assert tokens.revoked_coordinators(engine) == []  # the name's live token is the new one
    # the old token's session binding (a prefix of its hash) no longer matches the name's row
    check_old = tokens.still_current(NAME, bureau, tokens.token_hash(old)[:16])
    check_new = tokens.still_current(NAME, bureau, tokens.token_hash(new)[:16])
    with Session(engine) as s:
        with pytest.raises(tokens.CoordinatorRefused):
            check_old(s)
        check_new(s)


def test_two_reissues_of_one_revoked_name_at_once_issue_one_token(engine: sa.Engine) -> None:
    bureau = get_settings().bureau_code
    tokens.create_coordinator(engine, NAME, bureau)
    tokens.revoke(engine, NAME)
    barrier = threading.Barrier(2)
    got: list[str | BaseException] = []

    def reissue() -> None:
        barrier.wait(30)
        try:
            got.append(tokens.create_coordinator(engine, NAME, bureau))
        except BaseException as exc:  # the test reports it
            got.append(exc)

    threads = [threading.Thread(target=reissue) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    issued = [g for g in got if isinstance(g, str)]
    refused = [g for g in got if not isinstance(g, str)]
    assert len(issued) == 1 and len(refused) == 1, got
    assert isinstance(refused[0], UserError) and str(refused[0]) == ACTIVE
    with Session(engine) as s:
        rows = s.exec(select(CoordinatorToken)).all()
    assert [(r.name, r.token_hash, r.revoked_at) for r in rows] == [
        (NAME, tokens.token_hash(issued[0]), None)
    ]
    assert [e["reissued"] for e in _issued(engine)] == [False, True]


def test_a_correction_whose_token_is_revoked_and_reissued_meanwhile_is_refused(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name's row is live again after the reissue, but no longer the token the write came
    with: the write is refused as a revoked token is, and the new token writes."""
    code = sorted(drawn_round(engine))[0]
    bureau = get_settings().bureau_code
    old = tokens.create_coordinator(engine, NAME, bureau)
    fresh: list[str] = []

    def revoke_and_reissue() -> None:
        tokens.revoke(engine, NAME)
        fresh.append(tokens.create_coordinator(engine, NAME, bureau))

    url = f"/findings/{ROUND}/{code}"
    body = {"result": "no_problem", "check_date": "2026-12-10"}
    with serve_app(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        r = held_while(
            monkeypatch,
            (writes, "lock_writes"),
            lambda: http.post(url, json=body, headers={"Authorization": f"Bearer {old}"}),
            meanwhile=revoke_and_reissue,
        )
        assert r.status_code == 403 and r.json()["type"].endswith(":token-refused"), r.text
        with Session(engine) as s:
            assert s.exec(select(Finding).where(Finding.credit_code == code)).all() == []
        again = http.post(url, json=body, headers={"Authorization": f"Bearer {fresh[0]}"})
        assert again.status_code == 201, again.text
