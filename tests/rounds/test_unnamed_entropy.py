"""Entropy the commitment did not name, added at the draw.

A round's commitment names its entropy (``entropy_plan.sources``: the ceremony's witness
digits here). ``draw_round`` appended any ``EntropyInput.reveal`` to the records after the
named ones, unchecked: an operator who had seen the ceremony's digits could try "commit-reveal"
secrets offline (a few tries for a firm of a stratum drawn at 10%) until the firm wanted was
drawn, then draw with that secret. Each record checks only itself, so the bundle's verify.py,
``round verify`` and the public site all passed such a draw. Now the reveal is refused before
anything is decided, and ``round verify`` names a draw whose records are not those named (one
of each source, in the order named), or whose named sources were rewritten after the fact."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from rounds import bundle, service
from rounds.entropy import EntropyInput
from rounds.models import AuditEvent, Round, RoundStatus
from shuangsui.errors import IntegrityError, UserError
from tests.rounds.factories import plan_yaml, seed_registry

KEY = "ccc-2026-12"
DIGITS = "31415926535897932384626433"
WITNESSES = ("张三", "李四")


def reveal(secret: str = "局内公证 4") -> dict[str, Any]:
    """A commit-reveal record of a secret the operator chose after seeing the digits."""
    digest = hashlib.sha256(secret.encode("utf-8")).hexdigest()
    return {"source": "commit-reveal", "commitment": digest, "secret": secret,
            "committed_in": "本局公告栏"}  # fmt: skip


def drawn_with_an_unnamed_record(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> Round:
    """A round drawn by a program that took the reveal as the draw did before: the named
    records, then the reveal (what a bureau running an altered copy, or the code before this
    change, records)."""
    gather = service.gather_entropy

    def took_it(rnd: Round, given: EntropyInput, **kw: Any) -> list[dict[str, Any]]:
        named = gather(rnd, EntropyInput(given.witness_digits, given.witnesses), **kw)
        return [*named, dict(given.reveal or {})]

    monkeypatch.setattr(service, "gather_entropy", took_it)
    service.commit_round(engine=engine, plan_text=plan_yaml(extra="disclosure: on-draw"))
    rigged = EntropyInput(DIGITS, WITNESSES, reveal=reveal())
    drawn = service.draw_round(engine=engine, round_key=KEY, entropy=rigged)
    monkeypatch.undo()
    assert [r["source"] for r in drawn.entropy or []] == ["witness-digits", "commit-reveal"]
    return drawn


def test_a_reveal_the_commitment_did_not_name_is_refused_and_nothing_decided(
    engine: sa.Engine,
) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    with pytest.raises(UserError) as refused:
        service.draw_round(engine=engine, round_key=KEY,
                           entropy=EntropyInput(DIGITS, WITNESSES, reveal=reveal()))  # fmt: skip
    assert str(refused.value).startswith(
        f"reveal: round {KEY} committed to its entropy sources (witness-digits) and named no "
        "commit-reveal"
    )
    with Session(engine) as s:
        rnd = s.get(Round, KEY)
        assert rnd is not None and rnd.status is RoundStatus.committed and rnd.seed is None
        events = s.exec(select(AuditEvent.event).where(AuditEvent.round_key == KEY)).all()
    assert "DrawMade" not in events and "DrawNotRecorded" not in events

    # the ceremony's digits alone draw it, as committed
    drawn = service.draw_round(engine=engine, round_key=KEY,
                               entropy=EntropyInput(DIGITS, WITNESSES))  # fmt: skip
    assert drawn.status is RoundStatus.drawn
    assert [r["source"] for r in drawn.entropy or []] == ["witness-digits"]
    bundle.recompute(engine, KEY)


def test_a_draw_with_an_unnamed_record_is_named_by_verify(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_registry(engine)
    drawn_with_an_unnamed_record(engine, monkeypatch)
    with pytest.raises(IntegrityError) as caught:
        bundle.recompute(engine, KEY)
    assert str(caught.value) == (
        f"round {KEY}: 2 entropy record(s) (witness-digits, commit-reveal) where the commitment "
        "named 1 source(s) (witness-digits)"
    )


def test_named_sources_rewritten_after_the_draw_are_named_by_verify(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record made to agree with the draw: the round's named sources rewritten in the
    database to hold the reveal. The audit log's RoundCommitted says what was named."""
    seed_registry(engine)
    drawn_with_an_unnamed_record(engine, monkeypatch)
    named = {"sources": [{"min_digits": 20, "source": "witness-digits"},
                         {"source": "commit-reveal"}]}  # fmt: skip
    with Session(engine) as s:
        s.execute(sa.update(Round).where(Round.round_key == KEY).values(entropy_plan=named))  # type: ignore[arg-type]
        s.commit()
    with pytest.raises(IntegrityError, match=f"round {KEY}: stored entropy_plan .* in the audit"):
        bundle.recompute(engine, KEY)


@pytest.mark.parametrize("audience", ["public", "auditor"])
def test_the_bundles_own_verifier_names_an_unnamed_record(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, audience: str
) -> None:
    """The outsider's check, ``python3 -I -S verify.py``, took such a bundle (each record
    checks itself, and the seed, selection and teams follow from the records): it printed OK.
    It now compares ``entropy.json`` with the sources ``round.json`` names (``meta``), and
    the same bundle of the digits alone still verifies."""
    seed_registry(engine)
    drawn_with_an_unnamed_record(engine, monkeypatch)
    monkeypatch.setattr(service, "unnamed_entropy", lambda named, records: "")  # as written so
    out = bundle.bundle_round(engine, KEY, tmp_path / "rigged", audience)
    monkeypatch.undo()
    ran = bundle.run_verify_script(out)
    assert ran.returncode != 0, ran.stdout
    assert ("entropy.json: 2 entropy record(s) (witness-digits, commit-reveal) where the "
            "commitment named 1 source(s) (witness-digits)") in ran.stdout + ran.stderr  # fmt: skip


def test_the_bundles_own_verifier_takes_the_records_named(
    engine: sa.Engine, tmp_path: Path
) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    service.draw_round(engine=engine, round_key=KEY, entropy=EntropyInput(DIGITS, WITNESSES))
    ran = bundle.run_verify_script(bundle.bundle_round(engine, KEY, tmp_path / "b", "public"))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "one of each source named at commitment, in the order named" in ran.stdout
