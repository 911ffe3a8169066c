"""Tokens against hostile callers: malformed tokens, expiry with the round, revocation,
inactive inspectors, tokens kept out of logs, and private file modes.

The HTTP checks go through a real ``shuangsui serve`` process on loopback, on SQLite and
PostgreSQL, and read its captured output for any token.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import logging
import os
import sqlite3
import stat
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api import inspector_tokens, tokens
from findings.models import FindingSignoff
from notifications.channels.file import FileChannel
from notifications.links import assignment_token, verify_assignment_token
from registry.models import Inspector, InspectorStatus
from rounds import audit
from rounds.models import Assignment, Round
from shuangsui import logsafe
from shuangsui.config import Settings, get_settings
from tests.deploy.procs import REPO_ROOT, clean_env, run
from tests.findings.factories import ROUND, drawn_round
from tests.security.served import Served

# a real server sees the real date: a check done today, with the reason the date rule asks for
# when today is outside the round's window
BODY = {
    "result": "no_problem",
    "check_date": dt.datetime.now(dt.UTC).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat(),
    "reason": "检查日期在抽查窗口之外（测试）",
}
PYTHON = sys.executable


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def cli(*args: str, env: dict[str, str]) -> str:
    done = run([PYTHON, "-m", "shuangsui", *args], env=env, cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0, done.stdout
    return str(done.stdout)


def _problem(r: httpx.Response, status: int, slug: str) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == f"urn:shuangsui:problem:{slug}", body
    return str(body["detail"])


def test_hostile_tokens_through_a_real_server(served: Served, engine: sa.Engine) -> None:
    (a, team_a), (b, team_b) = sorted(served.teams.items())[:2]
    lead, second = served.token(a, team_a[0]), served.token(a, team_a[1])
    other = served.token(b, team_b[0])
    with httpx.Client(base_url=served.url, timeout=10) as http:
        page = f"/findings/{ROUND}/{a}"
        # non-ASCII tokens: in the header (raw UTF-8 bytes) and in the link; 401, never 500
        for headers, params in (
            ({b"Authorization": "Bearer é".encode()}, {}),
            ({}, {"token": "é"}),  # sent as ?token=%C3%A9
            ({}, {"token": "a" * 5000}),
            ({b"Authorization": b"Bearer \xff\xfe"}, {}),
        ):
            r = http.get(page, headers=headers, params=params)
            assert "printable ASCII" in _problem(r, 401, "token-malformed")
        assert http.get("/health", params={"token": "é"}).status_code == 200  # public stays open
        # the real links work, as a query parameter and as a bearer token
        assert http.get(page, params={"token": lead}).status_code == 200
        r = http.post(page, json=BODY, headers={"Authorization": f"Bearer {lead}"})
        assert r.status_code == 201, r.text
        # a coordinator's token goes in the header: the API refuses it in the address
        r = http.get("/rounds", params={"token": served.coordinator})
        assert "Authorization: Bearer" in _problem(r, 401, "token-in-query")

        # revoke the lead's links in this round, through the real CLI: refused at once,
        # the teammate and another team are untouched
        out = cli("tokens", "revoke", team_a[0], "--round", ROUND, "--by", "王五",
                  "--reason", "phone lost", env=served.env)  # fmt: skip
        assert f"revoked in round {ROUND}" in out
        detail = _problem(http.get(page, params={"token": lead}), 401, "token-revoked")
        assert "revoked" in detail and "coordinator" in detail
        assert http.get(page, params={"token": second}).status_code == 200
        assert http.get(f"/findings/{ROUND}/{b}", params={"token": other}).status_code == 200
        listed = cli("tokens", "list-revoked", env=served.env)
        assert team_a[0] in listed and "phone lost" in listed

        # an inactive inspector is refused and cannot make the finding final by signing
        with Session(engine) as session:
            ins = session.get(Inspector, team_a[1])
            assert ins is not None
            ins.status = InspectorStatus.inactive
            session.add(ins)
            session.commit()
        r = http.post(f"{page}/versions/1/sign-off", headers={"Authorization": f"Bearer {second}"})
        assert "inactive" in _problem(r, 403, "inspector-inactive")
        with Session(engine) as session:
            signers = session.exec(select(FindingSignoff.inspector_id)).all()
        assert team_a[1] not in signers

        # the round's findings deadline and the grace are long past: the link has expired
        past = dt.date(2025, 1, 10)
        with Session(engine) as session:
            session.execute(sa.update(Round).values(window_end=past))
            session.execute(sa.update(Assignment).values(due_on=past))
            session.commit()
        detail = _problem(
            http.get(f"/findings/{ROUND}/{b}", params={"token": other}), 401, "token-expired"
        )
        assert "expired" in detail and "coordinator" in detail and "30 days" in detail
        # the coordinator still reaches the finding to record a correction
        assert http.get(page, headers={"Authorization": f"Bearer {served.coordinator}"}).is_success

    log = served.log()
    assert "token=[redacted]" in log, log[-3000:]  # the access log wrote the request lines
    for secret in (lead, second, other, served.coordinator):
        assert secret not in log


def test_revocations_leave_audit_entries_and_refuse_unknowns(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    member = next(iter(teams.values()))[0]
    inspector_tokens.revoke(engine, member, by="王五", reason="left the bureau")
    with pytest.raises(Exception, match="already revoked"):
        inspector_tokens.revoke(engine, member, by="王五")
    with pytest.raises(Exception, match="no inspector"):
        inspector_tokens.revoke(engine, "nobody", by="王五")
    with pytest.raises(Exception, match="--round"):
        inspector_tokens.revoke(engine, member, round_key="no-such-round", by="王五")
    tokens.create_coordinator(engine, "李四", get_settings().bureau_code)
    tokens.revoke(engine, "李四")
    with Session(engine) as session:
        chain = audit.load_chain(session)
    audit.verify_chain(chain)
    events = [(e.event, e.round_key) for e in chain]
    assert ("InspectorTokenRevoked", None) in events
    assert ("CoordinatorTokenRevoked", None) in events
    assert [r.inspector_id for r in inspector_tokens.revoked(engine)] == [member]
    assert [c.name for c in tokens.revoked_coordinators(engine)] == ["李四"]


def test_expiry_counts_working_days_then_the_grace() -> None:
    settings = Settings(token_grace_days=0, publish_deadline_working_days=20)
    # 2026-10-30 (Fri) + 20 working days: 2026-11-27 (no holidays in November)
    assert inspector_tokens.expires_on(dt.date(2026, 10, 30), settings) == dt.date(2026, 11, 27)
    later = Settings(token_grace_days=30, publish_deadline_working_days=20)
    assert inspector_tokens.expires_on(dt.date(2026, 10, 30), later) == dt.date(2026, 12, 27)
    with pytest.raises(ValueError, match="token_grace_days"):
        Settings(token_grace_days=-1)


def test_token_comparison_takes_any_text() -> None:
    token = assignment_token("s", "r", "c", "i")
    for sent in ("é", "\udcff", "", token + "é"):
        assert not verify_assignment_token("s", "r", "c", "i", sent)
        assert inspector_tokens.match("s", "r", "c", ["i", "j"], sent) is None
    assert inspector_tokens.match("s", "r", "c", ["j", "i"], token) == "i"


def test_log_records_are_redacted_messages_arguments_and_tracebacks() -> None:
    logsafe.install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("tests.security.redact")
    log.addHandler(handler)
    log.propagate = False
    secret = "0f" * 32
    try:
        log.warning('%s - "%s %s HTTP/%s" %d', "127.0.0.1", "GET", f"/x?a=1&token={secret}",
                    "1.1", 200)  # fmt: skip
        log.warning("header Authorization: Bearer %s", secret)
        log.warning("coordinator ssc_AbC-d_9 used")
        log.warning("link %s?token=%s", "/findings/r/c", secret)  # the token as an argument
        log.warning("bad format %d", f"?token={secret}")  # a handler would print args raw
        try:
            raise ValueError(f"could not open /findings/r/c?token={secret}")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert secret not in text and "ssc_AbC" not in text
    assert "link /findings/r/c?token=[redacted]" in text
    assert text.count("[redacted]") >= 6 and "ValueError" in text


def test_new_data_directory_and_database_are_private(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    env = clean_env(SHUANGSUI_HOME=str(home), SHUANGSUI_ENVIRONMENT="test")
    cli("db", "migrate", env=env)
    assert mode(home) == 0o700
    db = home / "shuangsui.db"
    assert mode(db) == 0o600
    conn = sqlite3.connect(db)  # WAL mode: opening makes -wal and -shm, with the db's mode
    try:
        conn.execute("SELECT count(*) FROM alembic_version").fetchone()
        companions = [p for p in home.iterdir() if p.name != "shuangsui.db"]
        assert {p.name for p in companions} >= {"shuangsui.db-wal", "shuangsui.db-shm"}
        assert {p.name: mode(p) for p in companions} == {p.name: 0o600 for p in companions}
    finally:
        conn.close()
    # the public site is for everyone: world-readable
    site = tmp_path / "site"
    cli("publish", "--out", str(site), env=env)
    assert mode(site) == 0o755
    files = [p for p in site.rglob("*") if p.is_file()]
    assert files and all(mode(p) & 0o444 == 0o444 for p in files)
    assert all(mode(p) == 0o755 for p in site.rglob("*") if p.is_dir())


def test_file_outbox_is_private_even_outside_the_cli(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a Prefect worker's usual umask
    try:
        outbox = tmp_path / "home" / "outbox"
        channel = FileChannel(outbox)
        path = channel.write("k1", ".eml", b"Subject: x\n\nhttp://h/findings/r/c?token=abc\n")
        (outbox / "k2.eml").write_bytes(b"left by an older version")
        os.chmod(outbox / "k2.eml", 0o644)
        again = channel.write("k2", ".eml", b"rewritten")
    finally:
        os.umask(old)
    assert mode(tmp_path / "home") == 0o700 and mode(outbox) == 0o700
    assert mode(path) == 0o600 and mode(again) == 0o600
    assert not list(outbox.glob(".*.tmp"))


def test_dispatched_notices_land_in_a_private_outbox(engine: sa.Engine) -> None:
    from notifications.dispatch import dispatch
    from notifications.settings import NotifySettings

    drawn_round(engine)  # the draw queues the assignment notices
    old = os.umask(0o022)
    try:
        report = dispatch(engine=engine, notify=NotifySettings(channel="file"), processes=1)
    finally:
        os.umask(old)
    home = get_settings().home
    files = sorted((home / "outbox").iterdir())
    assert report.sent > 0 and len(files) == report.sent
    bodies = [
        email.message_from_bytes(f.read_bytes(), policy=email.policy.default).get_body()
        for f in files
        if f.suffix == ".eml"
    ]
    assert any("?token=" in b.get_content() for b in bodies if b)  # bearer tokens: owner only
    assert mode(home) == 0o700 and mode(home / "outbox") == 0o700
    assert {mode(f) for f in files} == {0o600}


def test_a_worker_loading_any_flow_redacts_its_logs() -> None:
    code = (
        "import logging, sys; import flows.notifications; "
        "logging.basicConfig(stream=sys.stdout, format='%(message)s'); "
        "logging.getLogger('prefect.flow_runs').warning('sent http://h/f/r/c?token=%s', 'abc123')"
    )
    done = run([PYTHON, "-c", code], env=clean_env(), cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0, done.stdout
    assert "token=[redacted]" in done.stdout and "abc123" not in done.stdout
