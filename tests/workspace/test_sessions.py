"""Workspace session cookies and CSRF tokens: pure functions, no server."""

from __future__ import annotations

from workspace import sessions
from workspace.sessions import Session

S = Session("inspector", "FJ0001", "ccc-2026-12", "91350100ANBKFJRE2E")


def test_a_cookie_reads_back_until_it_expires() -> None:
    value, issued = sessions.issue("k", S, now=1_000)
    assert sessions.read("k", value, now=1_000) == issued
    assert issued.subject == "FJ0001" and issued.nonce
    assert sessions.read("k", value, now=1_000 + sessions.LIFETIME_SECONDS + 1) is None


def test_a_forged_or_altered_cookie_is_refused() -> None:
    value, _ = sessions.issue("k", S, now=1_000)
    assert sessions.read("other-secret", value, now=1_000) is None
    body, mac = value.split(".")
    other, _ = sessions.issue("k", Session("inspector", "FJ0002", S.round_key, S.credit_code))
    assert sessions.read("k", f"{other.split('.')[0]}.{mac}", now=1_000) is None
    for junk in ("", ".", "x.y", "é.é", body, f"{body}.{mac}="):
        assert sessions.read("k", junk, now=1_000) is None


def test_csrf_tokens_belong_to_one_session() -> None:
    _, one = sessions.issue("k", S)
    _, two = sessions.issue("k", S)  # the same inspector signing in again
    token = sessions.csrf_token("k", one)
    assert sessions.csrf_ok("k", one, token)
    assert not sessions.csrf_ok("k", two, token)
    assert not sessions.csrf_ok("k", one, "") and not sessions.csrf_ok("k", one, "é")
