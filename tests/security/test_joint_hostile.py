"""The joint-round routes against hostile partners, over real HTTP between three bureaus on
loopback, on SQLite and PostgreSQL: a partner outside the joint plan reading its frames, JSON
nested to exhaust recursion, malformed statements, and one reveal sent four times at once."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from exchange import httpsig
from joint import client, service
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, SH, ZJ, Trio
from tests.joint.world import joint_yaml

PATH = "/exchange/v1/joint"
trio = test_protocol.trio  # three bureaus served on loopback (the fixture)


def _two_bureau_plan(joint: str) -> str:
    """Fujian leads, Zhejiang joins; Shanghai is a partner of both but not in this round."""
    return (
        joint_yaml(joint)
        .replace(f"  - {{bureau: '{SH}', inspectors: 1}}\n", "")
        .replace(f"{{bureau: '{FJ}', inspectors: 1}}", f"{{bureau: '{FJ}', inspectors: 2}}")
    )


def _get(trio: Trio, caller: str, host: str, path: str) -> httpx.Response:
    url = trio.b[host].base_url + path
    return httpx.get(url, headers=httpsig.sign_request(trio.b[caller].key, "GET", url), timeout=60)


def _post(trio: Trio, caller: str, host: str, path: str, body: bytes) -> httpx.Response:
    url = trio.b[host].base_url + path
    headers = httpsig.sign_request(trio.b[caller].key, "POST", url, body)
    return httpx.post(url, content=body, headers=headers | {"content-type": "application/json"},
                      timeout=60)  # fmt: skip


def test_only_participants_read_a_joint_rounds_frames(trio: Trio) -> None:
    joint = "jt-two"
    for code in (FJ, ZJ):
        service.commit(trio.b[code].engine, trio.me[code], _two_bureau_plan(joint))
    frames = next(
        json.loads(r.payload)
        for r in service.held(trio.b[FJ].engine, joint, ("commit",))
        if r.bureau == FJ
    )
    codes = [e["credit_code"] for e in frames["enterprises"]]
    assert codes
    seen = _get(trio, ZJ, FJ, f"{PATH}/{joint}")  # a participant: every commitment and frames
    assert seen.status_code == 200 and all(c in seen.text for c in codes)
    for host in (FJ, ZJ):  # Shanghai, a partner outside the plan, gets nothing
        refused = _get(trio, SH, host, f"{PATH}/{joint}")
        assert refused.status_code == 404, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert not any(c in refused.text for c in codes)
    missing = _get(trio, ZJ, FJ, f"{PATH}/jt-none")  # a key Fujian never committed to
    assert missing.status_code == 404


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


MALFORMED = [
    (b'{"envelope":' + _nested(200_000).encode() + b"}", 422, "nested deeper"),
    (b'{"envelope":{"statement":{"joint":"jt-two","x":' + _nested(900).encode() + b"}}}",
     422, "nested deeper"),
    (json.dumps({"envelope": {"statement": {"joint": "jt-two"}},
                 "payload": _nested(900)}).encode(), 422, "payload: JSON nested deeper"),
    (b"\xff\xfe{", 400, "body: not JSON"),
    (b"[]", 422, '{"envelope"'),
    (b'{"envelope": {"statement": []}}', 422, '{"envelope"'),
    (b'{"envelope": {"statement": {"joint": "jt-two"}}, "payload": 5}', 422, "payload"),
    (b'{"envelope": {"statement": {"joint": "jt-other"}}}', 422, "statement.joint"),
]  # fmt: skip


def test_a_malformed_statement_is_refused_with_a_reason(trio: Trio) -> None:
    for body, status, says in MALFORMED:
        resp = _post(trio, SH, FJ, f"{PATH}/jt-two/statements", body)
        assert resp.status_code == status, (body[:60], resp.text)
        assert resp.headers["content-type"] == "application/problem+json"
        assert says in resp.json()["detail"], (body[:60], resp.text)


def test_one_reveal_sent_four_times_at_once_is_held_once(trio: Trio) -> None:
    joint = "jt-race"
    trio.commit(joint)
    reveal = trio.statement(FJ, joint, nonce=trio.nonce(FJ, joint))  # not yet sent anywhere
    answers: list[Any] = []

    def send() -> None:
        try:
            answers.append(client.post_statement(trio.me[FJ].partners[SH], trio.me[FJ].key,
                                                 joint, reveal)["result"])  # fmt: skip
        except Exception as exc:  # the test reports whatever a sender saw
            answers.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    # each answer is a success (two senders may both pass the "held?" check; one row is kept)
    assert len(answers) == 4 and set(answers) <= {"reveal held", "reveal already held"}, answers
    held = [r for r in service.held(trio.b[SH].engine, joint, ("reveal",)) if r.bureau == FJ]
    assert len(held) == 1
