"""Joint rounds between three in-process bureaus (real uvicorn servers on loopback, a database
each): no single bureau, choosing its reveal after seeing every commitment and the others'
reveals, can change the outcome without being caught; the verifier names what was altered;
a bundle written twice into one folder at once is whole."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from exchange.directory import load_directory
from exchange.errors import SyncRejected
from joint import bundle, client, service
from joint.bundle import write_bundle
from joint.evidence import all_evidence
from joint.models import JointRound
from joint.protocol import joint_seed, nonce_commitment, sign_statement, statement_hash
from joint.service import Bureau as Me
from notifications.models import Notification
from shuangsui.errors import UserError
from tests.crash.test_kill_publish import _leftovers, _tree
from tests.exchange.bureaus import Bureau, make_bureau, served, write_directory
from tests.joint.world import NAMES, joint_yaml
from tests.rounds.factories import seed_registry
from tests.servers import free_port
from tests.writers import two_at_once

FJ, SH, ZJ = "350000", "310000", "330000"
LATE = dt.timedelta(hours=1)  # past both deadlines of joint_yaml


class Trio:
    def __init__(self, bureaus: dict[str, Bureau]):
        self.b = bureaus
        self.me = {
            c: Me(c, b.key, load_directory(b.home / "partners.toml")) for c, b in bureaus.items()
        }

    def commit(self, joint: str) -> None:
        text = joint_yaml(joint)
        for code in NAMES:
            service.commit(self.b[code].engine, self.me[code], text)

    def reveal(self, code: str, joint: str) -> None:
        assert service.reveal(self.b[code].engine, self.me[code], joint) == "revealed"

    def nonce(self, code: str, joint: str) -> str:
        with Session(self.b[code].engine) as s:
            row = s.get(JointRound, joint)
            assert row is not None
            return row.nonce

    def statement(self, code: str, joint: str, **change: object) -> dict:
        """``code``'s own statement, altered and signed again with its real key."""
        commit = next(
            json.loads(r.envelope)["statement"]
            for r in service.held(self.b[code].engine, joint, ("commit",))
            if r.bureau == code
        )
        if "nonce" in change:
            st = {
                "v": 1,
                "type": "joint-reveal",
                "joint": joint,
                "bureau": code,
                "joint_plan_hash": commit["joint_plan_hash"],
                "commit": statement_hash(commit),
                "nonce": change["nonce"],
            }
        else:
            st = commit | change
        key = self.b[code].key
        return sign_statement(st, key.origin, key.private)


@pytest.fixture
def trio(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Trio]:
    urls = {FJ: db_url}
    if db_url.startswith("postgresql"):
        make = request.getfixturevalue("new_postgres_database")
        urls |= {c: make(f"trio_{c}") for c in (SH, ZJ)}
    bureaus = {c: make_bureau(tmp_path, c, urls.get(c)) for c in NAMES}
    ports = {c: free_port() for c in NAMES}
    for c, b in bureaus.items():
        b.base_url = f"http://127.0.0.1:{ports[c]}"
        seed_registry(b.engine, seed=int(c[:2]), province=c[:2])
    for b in bureaus.values():
        write_directory(b.home / "partners.toml", [o for o in bureaus.values() if o is not b])
    try:
        with contextlib.ExitStack() as stack:
            for c, b in bureaus.items():
                stack.enter_context(served(b, ports[c]))
            yield Trio(bureaus)
    finally:
        for b in bureaus.values():
            b.engine.dispose()


def test_no_single_bureau_can_choose_the_outcome(trio: Trio) -> None:
    """Each bureau in turn reveals last, having seen every commitment and the other reveals.
    Whatever it does, the outcome is the one the commitments fixed, or a failure naming it."""
    for n, x in enumerate(NAMES):
        joint = f"jt-adversary-{n}"
        trio.commit(joint)
        for code in NAMES:
            if code != x:
                trio.reveal(code, joint)
        fixed = [trio.nonce(c, joint) for c in NAMES]  # what the commitments fixed
        # 1. any other nonce is refused by every participant, and kept as evidence
        for other in ("00" * 32, "ff" * 32, hashlib.sha256(joint.encode()).hexdigest()):
            for code in NAMES:
                if code == x:
                    continue
                with pytest.raises(SyncRejected, match="HTTP 422.*kept as evidence"):
                    client.post_statement(
                        trio.me[x].partners[code],
                        trio.me[x].key,
                        joint,
                        trio.statement(x, joint, nonce=other),
                    )
        engine = trio.b[next(c for c in NAMES if c != x)].engine  # one that was sent them
        assert any(f"{x} REVEALED A NONCE" in line for line in all_evidence(engine))
        # 2. withholding: at the deadline the fixed rule fails the round, naming it
        late = service.decision(engine, joint, dt.datetime.now(dt.UTC) + LATE)
        assert (late.state, late.reason, late.bureaus) == ("failed", "withheld", [x])
        # 3. the one reveal that counts gives the one seed the commitments fixed
        trio.reveal(x, joint)
        seeds = set()
        for code in NAMES:
            row = service.draw(trio.b[code].engine, trio.me[code], joint)
            assert row.status == "drawn"
            seeds.add(row.outcome["seed"])  # type: ignore[index]
            # each bureau notified its own inspectors, one notice per place on a team
            ours = [i for team in row.outcome["teams"].values() for b, i in team if b == code]  # type: ignore[index]
            with Session(trio.b[code].engine) as s:
                sent = s.exec(
                    select(Notification.recipient).where(
                        Notification.round_key == joint, Notification.kind == "assignment"
                    )
                ).all()
            assert sorted(sent) == sorted(ours) and ours
        d = service.decision(engine, joint)
        assert seeds == {joint_seed(d.commits[0]["joint_plan_hash"], joint, d.commits, fixed).hex()}
        assert all(
            c["nonce_commitment"] == nonce_commitment(joint, c["bureau"], f)
            for c, f in zip(d.commits, fixed, strict=True)
        )


def test_a_second_commitment_is_caught_as_equivocation(trio: Trio) -> None:
    trio.commit("jt-equivocate")
    trio.reveal(FJ, "jt-equivocate")
    trio.reveal(SH, "jt-equivocate")
    # Zhejiang signs another commitment (another nonce) after seeing two reveals
    second = nonce_commitment("jt-equivocate", ZJ, "11" * 32)
    other = trio.statement(ZJ, "jt-equivocate", nonce_commitment=second)
    payload = next(
        r.payload
        for r in service.held(trio.b[ZJ].engine, "jt-equivocate", ("commit",))
        if r.bureau == ZJ
    )
    client.post_statement(
        trio.me[ZJ].partners[FJ], trio.me[ZJ].key, "jt-equivocate", other, payload
    )
    row = service.draw(trio.b[FJ].engine, trio.me[FJ], "jt-equivocate")
    assert row.outcome == {"failure": {"reason": "equivocation", "bureaus": [ZJ]}}
    assert any("330000 SIGNED TWO COMMITMENTS" in x for x in all_evidence(trio.b[FJ].engine))


def _verify(bundle: Path) -> str:
    res = subprocess.run(
        ["python3", "-I", "-S", str(bundle / "verify_joint.py"), str(bundle)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return f"{res.returncode} {res.stdout}"


def _altered(src: Path, dst: Path, name: str, change: Callable[[dict], None]) -> Path:
    """A copy of the bundle with one JSON file changed and its manifest line updated."""
    shutil.copytree(src, dst)
    doc = json.loads((dst / name).read_text())
    change(doc)
    data = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    if name != "joint-plan.json":
        data += b"\n"
    (dst / name).write_bytes(data)
    lines = (dst / "MANIFEST.sha256").read_text().splitlines()
    fixed = [
        f"{hashlib.sha256(data).hexdigest()}  {name}" if ln.endswith(f"  {name}") else ln
        for ln in lines
    ]
    (dst / "MANIFEST.sha256").write_text("\n".join(fixed) + "\n")
    return dst


def test_the_verifier_names_what_was_altered(trio: Trio, tmp_path: Path) -> None:
    trio.commit("jt-verify")
    for code in NAMES:
        trio.reveal(code, "jt-verify")
    service.draw(trio.b[FJ].engine, trio.me[FJ], "jt-verify")
    good = tmp_path / "good"
    write_bundle(trio.b[FJ].engine, "jt-verify", good)
    assert _verify(good).startswith("0 "), _verify(good)
    resigned = trio.statement(ZJ, "jt-verify", nonce="22" * 32)

    def swap_team(doc: dict) -> None:
        code, team = next(iter(doc["teams"].items()))
        other = next(i for i in doc["workloads"][SH] if i != team[1][1])
        team[1][1] = other

    cases = {
        "commitment": (
            "statements.json",
            lambda d: d["commits"][SH][0]["statement"].update(inspector_size=1),
            "commitment 0 of 310000: the Ed25519 signature of 310000 does not verify",
        ),
        "reveal": (
            "statements.json",
            lambda d: d["reveals"][ZJ]["statement"].update(nonce="22" * 32),
            "reveal of 330000: the Ed25519 signature of 330000 does not verify",
        ),
        "re-signed reveal": (
            "statements.json",
            lambda d: d["reveals"].update({ZJ: resigned}),
            "reveal of 330000: H(nonce) differs from the nonce commitment",
        ),
        "selection": (
            "outcome.json",
            lambda d: d["selected"][0].update(rank=9),
            "outcome.json: selected: entry 1 rank 9 expected 1",
        ),
        "team": ("outcome.json", swap_team, "outcome.json: teams of"),
        "seed": ("outcome.json", lambda d: d.update(seed="00" * 32), "outcome.json: seed"),
    }
    for what, (name, change, expected) in cases.items():
        out = _verify(_altered(good, tmp_path / what.replace(" ", "-"), name, change))
        assert out.startswith("1 ") and "\nFAIL: " in out and expected in out, (what, out)


def test_our_commitment_made_twice_at_once_is_one_commitment(
    trio: Trio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``joint commit`` run twice at once: one nonce, one signed commitment of ours, never two
    (two would fail the round as an equivocation). Forced: the first run is held with its
    frames built, before it keeps its nonce, while the second runs to its end."""
    real_frames, first = service.own_frames, threading.current_thread()
    second: list[JointRound | BaseException] = []
    text, engine, me = joint_yaml("j-at-once"), trio.b[FJ].engine, trio.me[FJ]

    def run_second() -> None:
        try:
            second.append(service.commit(engine, me, text))
        except BaseException as exc:  # the test reports it
            second.append(exc)

    def own_frames(*args: Any, **kwargs: Any) -> Any:
        frames = real_frames(*args, **kwargs)
        if threading.current_thread() is first and not second:
            other = threading.Thread(target=run_second)
            other.start()
            other.join(300)
        return frames

    monkeypatch.setattr(service, "own_frames", own_frames)
    row = service.commit(engine, me, text)

    (other,) = second
    assert isinstance(other, JointRound), other
    assert row.nonce == other.nonce == trio.nonce(FJ, "j-at-once")
    ours = [r for r in service.held(engine, "j-at-once", ("commit",)) if r.bureau == FJ]
    assert len(ours) == 1


def test_a_bundle_started_while_another_writes_the_folder_waits_its_turn(
    trio: Trio, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``joint bundle --out DIR`` run twice into one folder at once: both end without error and
    the folder holds the bundle, whole and verifying, the same as one run writes, with no
    temporary file left. Forced (``tests.writers.two_at_once``): the first run is held before
    its outcome is renamed into place. Before the draw a bundle is refused, and leaves no
    folder behind."""
    trio.commit("jt-twice")
    early = tmp_path / "early"
    with pytest.raises(UserError, match="draw it first"):
        write_bundle(trio.b[FJ].engine, "jt-twice", early)
    assert not early.exists()
    for code in NAMES:
        trio.reveal(code, "jt-twice")
    engine = trio.b[FJ].engine
    service.draw(engine, trio.me[FJ], "jt-twice")
    out = tmp_path / "bundle"
    failed = two_at_once(monkeypatch, lambda: write_bundle(engine, "jt-twice", out),
                         clears=bundle, held_at="outcome.json")  # fmt: skip
    assert failed == []

    assert _leftovers(out) == []
    clean = tmp_path / "clean"
    write_bundle(engine, "jt-twice", clean)
    assert _tree(out) == _tree(clean)
    assert _verify(out).startswith("0 "), _verify(out)


def test_a_refusal_quotes_the_signer_as_sent_on_one_line() -> None:
    """A partner's own signed statement naming as its bureau a text of lines (or a control
    character, or 10,000 characters): the refusal, a line of the pull's notes, quotes it on
    one line and cut, never a line of the partner's making."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from joint.protocol import JointError, open_envelope

    key = Ed25519PrivateKey.generate()
    forged = "310000\n  pull from 320000: 1 statement taken\x1b[2K" + "9" * 10_000
    st = {"v": 1, "type": "joint-reveal", "joint": "j-1", "joint_plan_hash": "0" * 64,
          "bureau": forged, "commit": "0" * 64, "nonce": "0" * 64}  # fmt: skip
    for envelope in (
        sign_statement(st, "310000", key),  # signed by another name than the one it gives
        sign_statement(st, "310000", key) | {"signature": "AAAA"},  # a bad signature
    ):
        with pytest.raises(JointError) as refused:
            open_envelope(envelope)
        said = str(refused.value)
        assert "\n" not in said and "\x1b" not in said and len(said) < 200, said
        assert "310000 pull from 320000" in said


@pytest.mark.parametrize(
    ("field", "value", "needed"),
    [("inspector_size", "12", "an integer"), ("frame_size", 1.5, "an integer"),
     ("inspector_root", 7, "a string"), ("commit", ["x"], "a string")],
)  # fmt: skip
def test_a_commitments_hashes_and_sizes_have_their_json_types(
    field: str, value: object, needed: str
) -> None:
    """A commitment's sizes are integers and its hashes (and the commitment a reveal opens)
    strings: a size sent as "12" was compared as text ("recomputed 12, bundle says 12")."""
    from joint.protocol import field_fault

    assert field_fault({field: value}) == f"statement.{field}: {needed} is needed"
    assert field_fault({"inspector_size": 12, "inspector_root": "ab", "commit": "cd"}) is None
