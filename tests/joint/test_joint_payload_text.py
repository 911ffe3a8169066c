"""A commitment POSTed, with its frames, for a joint key this bureau has not committed to yet
(held unchecked until it commits, docs/operations.md): frames holding a lone surrogate (the
JSON escape ``\\ud800`` in a string) were a 500 and a traceback in the server's log
(``UnicodeEncodeError`` at the insert, SQLite and PostgreSQL). A commitment's frames are the
canonical JSON of the signer's frames (docs/exchange-protocol.md), so anything else is refused
on receipt, 422 naming ``body: payload``, nothing held."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlmodel import Session, select

from exchange.httpsig import sign_request
from joint.models import JointStatement
from joint.protocol import sign_statement
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, SH, Trio

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)
JOINT = "jt-not-yet"


def _post(trio: Trio, payload_json: str) -> httpx.Response:
    """Shanghai POSTs to Fujian a commitment it signed, with ``payload_json`` (the payload as
    written in the body, a JSON string) as its frames."""
    st = {"v": 1, "type": "joint-commit", "joint": JOINT, "joint_plan_hash": "ab" * 32,
          "bureau": SH, "nonce_commitment": "cd" * 32, "inspector_commitment": "ef" * 32,
          "inspector_root": "01" * 32, "inspector_size": 1,
          "constraints_commitment": "23" * 32}  # fmt: skip
    key = trio.b[SH].key
    envelope = json.dumps(sign_statement(st, key.origin, key.private))
    body = f'{{"envelope": {envelope}, "payload": {payload_json}}}'.encode()
    url = f"{trio.b[FJ].base_url}/exchange/v1/joint/{JOINT}/statements"
    headers = sign_request(key, "POST", url, body) | {"Content-Type": "application/json"}
    return httpx.post(url, content=body, headers=headers, timeout=30)


@pytest.mark.parametrize(
    "payload_json",
    [
        r'"[\"\ud800\"]"',  # a lone surrogate in the frames: no UTF-8 for it
        r'"{\"inspectors\": []}"',  # JSON, but not canonical (a space)
        r'"[1.5]"',  # a float: canonical JSON has none
    ],
)
def test_frames_that_are_not_canonical_json_are_refused(trio: Trio, payload_json: str) -> None:
    resp = _post(trio, payload_json)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"].startswith("body: payload: not canonical JSON"), resp.text
    with Session(trio.b[FJ].engine) as s:
        assert s.exec(select(JointStatement)).all() == []
    # the same commitment with frames written as canonical JSON is held (unchecked until the
    # bureau commits to that joint key)
    assert _post(trio, r'"[\"x\"]"').json()["result"] == "commitment held"
