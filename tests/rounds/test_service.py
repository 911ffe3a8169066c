"""A round is committed once, drawn once, and every attempt is in the audit log."""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from draw.canonical import canonical_json, sha256_hex
from registry.models import Enterprise
from rounds import audit, service
from rounds.models import Assignment, AuditEvent, Round, RoundKind, RoundStatus, Selection
from shuangsui.errors import (
    DrawAlreadyMade,
    EntropyUnavailable,
    InfeasibleDraw,
    PlanError,
    UserError,
)
from tests.rounds.factories import plan_yaml, seed_registry

DIGITS = "31415926535897932384626433"
WITNESSES = ("张三", "李四")


def _draw(engine: sa.Engine, key: str = "ccc-2026-12", digits: str = DIGITS) -> Round:
    return service.draw_round(
        engine=engine,
        round_key=key,
        entropy=service.EntropyInput(witness_digits=digits, witnesses=WITNESSES),
    )


def _state(engine: sa.Engine, key: str) -> tuple:
    with Session(engine) as s:
        sel = sorted((r.credit_code, r.stratum, r.ticket) for r in s.exec(select(Selection)))
        asg = sorted(
            (a.credit_code, a.inspector_id, a.position) for a in s.exec(select(Assignment))
        )
        rnd = s.get(Round, key)
        assert rnd is not None
        return rnd.seed, sel, asg


def test_commit_then_draw_then_no_reroll(engine: sa.Engine) -> None:
    seed_registry(engine)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    assert rnd.status is RoundStatus.committed
    assert rnd.frame_size == 60 and rnd.inspector_frame_size == 12
    again = service.commit_round(engine=engine, plan_text=plan_yaml())
    assert again.frame_commitment == rnd.frame_commitment

    with pytest.raises(EntropyUnavailable, match="waiting for the draw ceremony"):
        service.draw_round(engine=engine, round_key=rnd.round_key)

    drawn = _draw(engine)
    assert drawn.status is RoundStatus.drawn and drawn.seed
    first = _state(engine, rnd.round_key)
    assert len(first[1]) >= 8  # at least one per stratum
    teams: dict[str, list[str]] = {}
    for code, ins, _pos in first[2]:
        teams.setdefault(code, []).append(ins)
    assert set(teams) == {c for c, _s, _t in first[1]}
    assert all(len(t) == 2 for t in teams.values())

    # the same ceremony again (a retried request) returns the draw and refuses nothing
    assert _draw(engine).seed == drawn.seed
    # other digits: refused out loud, recorded with who asked and what they offered, unused
    with pytest.raises(DrawAlreadyMade) as refused:
        service.draw_round(
            engine=engine,
            round_key=rnd.round_key,
            entropy=service.EntropyInput(witness_digits="9" * 25, witnesses=("王五",)),
            requested_by="林科长",
        )
    assert refused.value.exit_code == 4
    assert f"with seed {drawn.seed}" in str(refused.value)
    assert "北京时间" in str(refused.value) and "was not used" in str(refused.value)
    assert _state(engine, rnd.round_key) == first
    with Session(engine) as s:
        chain = audit.load_chain(s, rnd.round_key)
    assert [e.event for e in chain] == [  # drawn after its window: public at once
        "RoundCommitted", "EntropyAwaited", "DrawMade", "RoundRevealed", "DrawRefused"
    ]  # fmt: skip
    offered = {"witness_digits": "9" * 25, "witnesses": ["王五"], "reveal": None}
    assert json.loads(chain[-1].payload)["requested_by"] == "林科长"
    assert json.loads(chain[-1].payload)["seed"] == drawn.seed
    assert json.loads(chain[-1].payload)["offered_sha256"] == sha256_hex(canonical_json(offered))
    assert "9" * 25 not in chain[-1].payload


@pytest.mark.parametrize(
    "name, said",
    [
        ("\u202e林晓", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),  # showed the digits reversed
        ("陈明\u200b", "U+200B (ZERO WIDTH SPACE)"),
        ("王\n五", "the control character U+000A"),
    ],
)
def test_a_witness_name_with_an_invisible_character_is_refused_and_nothing_is_drawn(
    engine: sa.Engine, name: str, said: str
) -> None:
    seed_registry(engine)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    with pytest.raises(UserError, match=r"^witnesses\[1\]: contains ") as refused:
        service.draw_round(
            engine=engine,
            round_key=rnd.round_key,
            entropy=service.EntropyInput(witness_digits=DIGITS, witnesses=("张三", name)),
        )
    assert said in str(refused.value)
    with Session(engine) as s:
        assert s.get(Round, rnd.round_key).status is RoundStatus.committed  # type: ignore[union-attr]
        assert s.exec(select(Selection)).all() == []
    assert _draw(engine).status is RoundStatus.drawn  # the names retyped: drawn


def test_same_inputs_same_draw_on_a_fresh_database(engine: sa.Engine, tmp_path) -> None:
    from shuangsui import db

    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    a = _draw(engine)
    other = db.make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    db.migrate(f"sqlite:///{tmp_path / 'other.db'}")
    seed_registry(other)
    service.commit_round(engine=other, plan_text=plan_yaml())
    b = _draw(other)
    assert a.frame_commitment == b.frame_commitment
    assert a.seed == b.seed
    assert _state(engine, "ccc-2026-12")[1:] == _state(other, "ccc-2026-12")[1:]
    other.dispose()


def test_concurrent_draws_make_one_draw(engine: sa.Engine) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    results: list[Round] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            results.append(_draw(engine))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({r.seed for r in results}) == 1
    with Session(engine) as s:
        made = s.exec(select(AuditEvent).where(AuditEvent.event == "DrawMade")).all()
        assert len(made) == 1
        codes = [r.credit_code for r in s.exec(select(Selection))]
        assert len(codes) == len(set(codes))


def test_infeasible_rules_fail_naming_enterprise_and_nothing_is_assigned(engine: sa.Engine) -> None:
    seed_registry(engine, inspectors=3)
    service.commit_round(engine=engine, plan_text=plan_yaml(size=4))
    with pytest.raises(InfeasibleDraw, match=r"91\w{16}"):
        _draw(engine)
    with Session(engine) as s:
        assert s.exec(select(Assignment)).all() == []
        assert s.exec(select(Selection)).all() == []
        rnd = s.get(Round, "ccc-2026-12")
        assert rnd is not None and rnd.status is RoundStatus.failed
        events = [e.event for e in audit.load_chain(s, "ccc-2026-12")]
    assert events[-1] == "DrawFailed"


@pytest.mark.parametrize("edit", ["one byte", "not JSON"])
def test_a_stored_frame_changed_under_its_hash_is_named_as_such(engine: sa.Engine, edit) -> None:
    """The frame is read as it inflates; whether the changed bytes parse or not, the error is
    that the stored frame does not match its hash, and nothing is drawn."""
    import gzip

    from rounds.models import RoundArtifact
    from shuangsui.errors import IntegrityError

    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    with Session(engine) as s:
        art = s.get(RoundArtifact, ("ccc-2026-12", "frame-enterprises.jsonl"))
        assert art is not None
        data = gzip.decompress(art.content)
        data = data.replace(b'"A"', b'"B"', 1) if edit == "one byte" else b"[" + data[1:]
        art.content = gzip.compress(data)
        s.add(art)
        s.commit()
    with pytest.raises(IntegrityError, match="frame-enterprises.jsonl does not match its hash"):
        _draw(engine)
    with Session(engine) as s:
        assert s.exec(select(Selection)).all() == []


def test_adhoc_round_needs_reason_and_cannot_lower_a_rate(engine: sa.Engine) -> None:
    seed_registry(engine)
    with pytest.raises(UserError, match="reason"):
        service.commit_round(
            engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc, round_key="adhoc-1"
        )
    with pytest.raises(PlanError, match="only raise"):
        service.commit_round(
            engine=engine,
            plan_text=plan_yaml(),
            kind=RoundKind.adhoc,
            round_key="adhoc-1",
            reason="投诉举报",
            overrides={"rates": {"A": "1%"}},
        )
    rnd = service.commit_round(
        engine=engine,
        plan_text=plan_yaml(),
        kind=RoundKind.adhoc,
        round_key="adhoc-1",
        reason="投诉举报集中",
        requested_by="coordinator@fj",
        overrides={"rates": {"A": "50%"}},
    )
    assert rnd.reason == "投诉举报集中" and rnd.overrides == {"rates": {"A": "50%"}}


def test_previous_round_excludes_its_enterprises(engine: sa.Engine) -> None:
    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    _draw(engine)
    first = {c for c, _s, _t in _state(engine, "ccc-2026-12")[1]}
    nxt = service.commit_round(
        engine=engine, plan_text=plan_yaml(plan_id="ccc-2027-01", period="2027-01")
    )
    assert nxt.frame_size == 60
    with Session(engine) as s:
        inputs = service.load_inputs(s, "ccc-2027-01")
    excluded = {u.credit_code for u in inputs.enterprises if u.status == "excluded"}
    assert excluded == first
    assert all("ccc-2026-12" in u.note for u in inputs.enterprises if u.status == "excluded")


def test_plan_with_an_unknown_certificate_kind_is_refused_naming_the_field(
    engine: sa.Engine,
) -> None:
    seed_registry(engine)
    bad = plan_yaml().replace("cert_kinds: [ccc]", "cert_kinds: [CCC]")
    with pytest.raises(PlanError, match=r"plans/x.yaml: population.cert_kinds.0: 'CCC' is not"):
        service.commit_round(engine=engine, plan_text=bad, plan_source="plans/x.yaml")


def test_a_frame_altered_after_commitment_cannot_be_drawn(engine: sa.Engine) -> None:
    import gzip
    import hashlib

    from rounds.models import RoundArtifact

    codes = seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    with Session(engine) as s:
        art = s.get(RoundArtifact, ("ccc-2026-12", "frame-enterprises.jsonl"))
        assert art is not None
        lines = gzip.decompress(art.content).splitlines(keepends=True)
        dropped = [line for line in lines if codes[5].encode() not in line]
        assert len(dropped) == len(lines) - 1
        data = b"".join(dropped)
        art.content = gzip.compress(data)
        art.sha256 = hashlib.sha256(data).hexdigest()  # a consistent forgery of the artifact
        s.add(art)
        s.commit()
    with pytest.raises(PlanError, match="differ from the commitments"):
        _draw(engine)
    with Session(engine) as s:
        assert s.exec(select(Selection)).all() == []


@pytest.mark.parametrize(
    "edit",
    ["ticket", "kind", "rank", "team", "selection", "team order", "extra selection", "extra team"],
)
def test_a_stored_draw_changed_after_the_fact_is_named_on_recompute(
    engine: sa.Engine, edit
) -> None:
    """The bundle's recompute compares the stored selection and teams with the draw redone
    from the artifacts, and names the first difference."""
    from rounds.bundle import recompute
    from shuangsui.errors import IntegrityError

    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    _draw(engine)
    assert recompute(engine, "ccc-2026-12").result.selected  # unchanged: it agrees
    with Session(engine) as s:
        first = s.exec(select(Selection).order_by(Selection.credit_code)).first()
        assert first is not None
        code = first.credit_code
        if edit in ("ticket", "kind", "rank"):  # a random pick shown as targeted passed
            if edit == "ticket":
                first.ticket = "0" * 64
            elif edit == "kind":
                first.kind = "targeted" if first.kind == "random" else "random"
            else:
                first.rank = 99
            s.add(first)
            want = f"stored selection of {code} differs"
        elif edit == "team":
            s.execute(sa.delete(Assignment).where(Assignment.credit_code == code))
            want = f"team of {code} is stored as \\[\\]"
        elif edit == "team order":  # the lead and the member swapped
            rows = s.exec(select(Assignment).where(Assignment.credit_code == code)).all()
            assert len(rows) == 2
            lead, member = sorted(rows, key=lambda a: a.position)
            for row, position in ((lead, 9), (member, 0), (lead, 1)):  # one at a time: unique
                row.position = position
                s.add(row)
                s.flush()
            want = f"team of {code} is stored as \\['{member.inspector_id}', "
        elif edit in ("extra selection", "extra team"):  # an enterprise that was not drawn
            drawn = set(s.exec(select(Selection.credit_code)).all())
            codes = s.exec(select(Enterprise.credit_code)).all()
            other = next(c for c in codes if c not in drawn)
            if edit == "extra selection":
                s.add(Selection(round_key=first.round_key, credit_code=other,
                                stratum=first.stratum, kind=first.kind, rank=999,
                                ticket="f" * 64))  # fmt: skip
                want = f"{other} is stored as selected but was not drawn"
            else:
                some = s.exec(select(Assignment)).first()
                assert some is not None
                s.add(Assignment(round_key=first.round_key, credit_code=other, position=0,
                                 inspector_id=some.inspector_id, due_on=some.due_on))  # fmt: skip
                want = f"a team is stored for {other}, which was not drawn"
        else:
            s.execute(sa.delete(Selection).where(Selection.credit_code == code))
            want = f"{code} should be selected but is not stored"
        s.commit()
    with pytest.raises(IntegrityError, match=want):
        recompute(engine, "ccc-2026-12")


def test_a_round_record_drawn_again_from_other_entropy_is_named_by_its_audit_events(
    engine: sa.Engine,
) -> None:
    """Rewriting a drawn round whole, other witness digits, the seed, selection and teams
    made again from them, reproduces itself on recompute: its own audit events, which the
    chain links to every later one, still hold the seed of the draw that was made."""
    from draw import core
    from rounds.bundle import recompute
    from shuangsui.errors import IntegrityError

    seed_registry(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    made = _draw(engine)
    entropy = json.loads(json.dumps(made.entropy))
    entropy[0]["digits"] = "1" * len(entropy[0]["digits"])
    with Session(engine) as s:
        forged = core.draw(service.load_inputs(s, made.round_key, entropy))
        assert forged.seed != made.seed
        rnd = s.get(Round, made.round_key)
        assert rnd is not None
        rnd.entropy, rnd.seed = entropy, forged.seed
        due = s.exec(select(Assignment.due_on)).first()
        s.execute(sa.delete(Assignment).where(Assignment.round_key == made.round_key))
        s.execute(sa.delete(Selection).where(Selection.round_key == made.round_key))
        s.add_all(Selection(round_key=made.round_key, **x._asdict()) for x in forged.selected)
        s.add_all(
            Assignment(
                round_key=made.round_key, credit_code=code, inspector_id=who, position=i, due_on=due
            )  # fmt: skip
            for code, team in forged.teams.items()
            for i, who in enumerate(team)
        )
        s.add(rnd)
        s.commit()
    with pytest.raises(IntegrityError, match=f"stored seed {forged.seed} != {made.seed} in the "
                       "audit log's DrawMade event"):  # fmt: skip
        recompute(engine, made.round_key)
