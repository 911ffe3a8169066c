"""A participant that answers a pull (``GET /exchange/v1/joint/{joint}``) with a document of the
right outer shape but hostile inside, between bureaus served on loopback (SQLite and
PostgreSQL): ``statements`` that is not a list, or a commitment it signed whose frames are JSON
nested 100,000 deep. Each stopped every ``joint reveal``, ``joint draw`` and ``joint pull`` of
the bureau pulling with a traceback (``TypeError: 'NoneType' object is not iterable``,
``RecursionError``), so the round could not be drawn there, nor fail by its rule once its
deadlines passed: a veto nobody could see. Now the pull notes it naming the partner and goes on
with the others, and the round is decided as if that answer had held nothing new."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from joint import service
from joint.models import JointStatement
from joint.protocol import nonce_commitment, sign_statement, statement_hash
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, SH, ZJ, Trio

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)
LATE = dt.timedelta(hours=1)  # past both deadlines of joint_yaml


class _Answers(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile() -> Iterator[ThreadingHTTPServer]:
    """A partner on loopback that answers every GET with ``hostile.RequestHandlerClass.body``."""
    handler = type("Handler", (_Answers,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _through(trio: Trio, code: str, server: ThreadingHTTPServer) -> service.Bureau:
    """``code`` as it pulls, with Zhejiang's address in its directory answered by ``server``."""
    me = trio.me[code]
    url = f"http://127.0.0.1:{server.server_address[1]}"
    partners = dict(me.partners) | {ZJ: dataclasses.replace(me.partners[ZJ], base_url=url)}
    return dataclasses.replace(me, partners=partners)


@pytest.mark.parametrize(
    ("statements", "said"),
    [("null", "null"), ("5", "a number"), ('"abc"', "a string"), ("true", "true"),
     ('{"a": 1}', "an object")],
)  # fmt: skip
def test_statements_that_are_not_a_list_are_noted(
    trio: Trio, hostile: ThreadingHTTPServer, statements: str, said: str
) -> None:
    joint = "jt-answers"
    trio.commit(joint)
    for code in (SH, ZJ):
        trio.reveal(code, joint)
    hostile.RequestHandlerClass.body = (  # type: ignore[attr-defined]
        f'{{"joint": "{joint}", "statements": {statements}}}'.encode()
    )
    me = _through(trio, FJ, hostile)
    notes = service.pull(trio.b[FJ].engine, me, joint)
    assert notes == [f"pull from {ZJ}: statements: a list is needed, not {said}"], notes
    # the round is decided from what the others hold: revealed, then drawn
    assert service.reveal(trio.b[FJ].engine, me, joint) == "revealed"
    assert me.pulled == notes
    row = service.draw(trio.b[FJ].engine, me, joint)
    assert row.status == "drawn" and me.pulled == notes


def test_frames_nested_too_deep_in_a_relayed_commitment_are_noted(trio: Trio) -> None:
    """Shanghai serves a second commitment of its own whose frames nest 100,000 deep."""
    joint = "jt-deep"
    trio.commit(joint)
    for code in NAMES_BUT_FJ:
        trio.reveal(code, joint)
    own = trio.statement(SH, joint)["statement"]
    second = own | {"nonce_commitment": nonce_commitment(joint, SH, secrets.token_hex(32))}
    key = trio.b[SH].key
    envelope = sign_statement(second, key.origin, key.private)
    deep = "[" * 100_000 + "]" * 100_000
    _hold(trio.b[SH].engine, joint, envelope, deep)  # what Shanghai's server answers
    engine = trio.b[FJ].engine
    notes = service.pull(engine, trio.me[FJ], joint)
    assert len(notes) == 1 and notes[0].startswith(f"pull from {SH}: a statement not taken: "), (
        notes
    )
    assert "frames of 310000: malformed (JSON nested too deeply)" in notes[0]
    assert len([r for r in service.held(engine, joint, ("commit",)) if r.bureau == SH]) == 1
    row = service.draw(engine, trio.me[FJ], joint, now=dt.datetime.now(dt.UTC) + LATE)
    assert row.status == "failed" and (row.outcome or {})["failure"]["reason"] == "withheld"


NAMES_BUT_FJ = (SH, ZJ)


def _hold(engine: Engine, joint: str, envelope: dict, payload: str) -> None:
    """Hold ``envelope`` as a commitment in ``engine``'s database, as its server answers it."""
    st = envelope["statement"]
    with Session(engine) as s:
        s.add(JointStatement(joint_key=joint, bureau=st["bureau"], kind="commit",
                             digest=statement_hash(st), envelope=json.dumps(envelope),
                             payload=payload, received_at=dt.datetime.now(dt.UTC)))  # fmt: skip
        s.commit()
