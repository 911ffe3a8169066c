"""A joint round's bundle is the statements its decision was made from (three bureaus served on
loopback, SQLite and PostgreSQL). A statement that reached a bureau after it decided the round
changes nothing there (a decided round stays decided, docs/draw-algorithm.md §13.3), but
``joint bundle`` put it in ``statements.json`` with the rest, and ``verify_joint.py`` then
recomputed another decision and refused the bundle of an honest bureau:

* a participant signs a second commitment once the round is drawn (kept: evidence of
  equivocation): ``FAIL: outcome.json: outcome: recomputed failed, bundle says drawn``;
* a reveal that reached another participant in time comes in by a pull after this bureau
  failed the round as withheld: ``recomputed drawn, bundle says failed``.

Now the bundle holds the statements held when the round was decided; a later commitment is
shown to the coordinators (``joint status``, ``partners status``) as evidence, signed and kept."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest

from joint import client, service
from joint.bundle import write_bundle
from joint.evidence import evidence
from joint.protocol import nonce_commitment
from tests.joint import test_protocol
from tests.joint.test_protocol import FJ, SH, ZJ, Trio
from tests.races import held_while

trio = test_protocol.trio  # three bureaus served on loopback (the fixture)
LATE = dt.timedelta(hours=1)  # past both deadlines of joint_yaml


def _verify(bundle: Path) -> str:
    res = subprocess.run(["python3", "-I", "-S", str(bundle / "verify_joint.py"), str(bundle)],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    return f"{res.returncode} {res.stdout.splitlines()[-1]}"


def test_a_commitment_signed_after_the_draw_leaves_the_bundle_as_drawn(
    trio: Trio, tmp_path: Path
) -> None:
    joint = "jt-after-draw"
    trio.commit(joint)
    for code in (FJ, SH, ZJ):
        trio.reveal(code, joint)
    engine = trio.b[FJ].engine
    assert service.draw(engine, trio.me[FJ], joint).status == "drawn"
    # Shanghai, the round drawn, signs another commitment (another nonce) and sends it
    payload = next(r.payload for r in service.held(engine, joint, ("commit",)) if r.bureau == SH)
    second = trio.statement(SH, joint, nonce_commitment=nonce_commitment(joint, SH, "11" * 32))
    sent = client.post_statement(trio.me[SH].partners[FJ], trio.me[SH].key, joint, second, payload)
    assert sent["result"] == "commitment held"  # evidence, kept
    write_bundle(engine, joint, tmp_path / "b")
    assert (
        _verify(tmp_path / "b")
        == f"0 OK: the joint round in {tmp_path / 'b'} is reproduced exactly"
    )
    row = service.get_joint(engine, joint)
    assert row.status == "drawn"
    lines = evidence(engine, row)
    assert any(
        line.startswith(f"!!! {SH} SIGNED A SECOND COMMITMENT after joint round {joint} was "
                        "decided here") for line in lines
    ), lines  # fmt: skip


def test_a_reveal_pulled_after_the_round_failed_leaves_the_bundle_as_failed(
    trio: Trio, tmp_path: Path
) -> None:
    joint = "jt-after-fail"
    trio.commit(joint)
    for code in (FJ, SH):
        trio.reveal(code, joint)
    engine, late = trio.b[FJ].engine, dt.datetime.now(dt.UTC) + LATE
    row = service.draw(engine, trio.me[FJ], joint, now=late)  # Zhejiang's reveal missing
    assert row.outcome == {"failure": {"reason": "withheld", "bureaus": [ZJ]}}
    # Zhejiang's reveal reached Shanghai in time (Shanghai's clock), and Fujian pulls it later
    reveal = trio.statement(ZJ, joint, nonce=trio.nonce(ZJ, joint))
    client.post_statement(trio.me[ZJ].partners[SH], trio.me[ZJ].key, joint, reveal)
    service.pull(engine, trio.me[FJ], joint, now=late + dt.timedelta(minutes=1))
    assert [r.bureau for r in service.held(engine, joint, ("reveal",))].count(ZJ) == 1
    write_bundle(engine, joint, tmp_path / "b")
    assert _verify(tmp_path / "b") == "0 OK: confirmed: the joint round fails: withheld (330000)"


def test_a_reveal_that_arrives_while_the_draw_pulls_is_in_the_bundle(
    trio: Trio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Zhejiang's reveal reaches Fujian after Fujian's draw began and before it decided (held
    there while the reveal is sent): the decision counts it, so the bundle holds it."""
    joint = "jt-while-drawing"
    trio.commit(joint)
    for code in (FJ, SH):
        trio.reveal(code, joint)
    engine = trio.b[FJ].engine
    reveal = trio.statement(ZJ, joint, nonce=trio.nonce(ZJ, joint))
    row = held_while(
        monkeypatch,
        (service, "decision"),
        lambda: service.draw(engine, trio.me[FJ], joint),
        meanwhile=lambda: client.post_statement(
            trio.me[ZJ].partners[FJ], trio.me[ZJ].key, joint, reveal
        ),
    )
    assert row.status == "drawn"
    write_bundle(engine, joint, tmp_path / "b")
    assert (
        _verify(tmp_path / "b")
        == f"0 OK: the joint round in {tmp_path / 'b'} is reproduced exactly"
    )
