"""Replacing a member of a joint round's team (docs/draw-algorithm.md §13.7), between real
bureaus on loopback.

A partner's inspector who fell ill or declared a conflict (回避) after a joint draw left the
enterprise waiting for that bureau's finding for ever: the lead refused any finding not naming
the team as drawn. Now a bureau replaces its own member by a signed ``joint-replacement``
(§14's pick on its own part of the round), every participant checks it and holds it, the
lead takes the new member's finding and refuses the withdrawn one's, and the bundle carries
the statements for ``verify_joint.py`` to redo each pick."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from exchange.errors import SyncRejected
from exchange.models import ExchangeEntry
from joint import client, service
from joint.bundle import write_bundle
from joint.models import JointRound, JointStatement
from joint.protocol import sign_statement
from joint.replace import teams_as_they_stand
from joint.replacements import teams_now
from joint.withdraw import Recorded, replace_member
from notifications.models import Notification, NotificationStatus
from rounds.models import AuditEvent
from tests.joint.test_protocol import Trio, _altered, _verify, trio  # noqa: F401  (fixture)
from tests.joint.world import NAMES, World, joint_yaml

FJ, SH, ZJ = "350000", "310000", "330000"
JOINT = "jt-2026-12"


def _row(engine: Any, joint: str = JOINT) -> JointRound:
    with Session(engine) as s:
        row = s.get(JointRound, joint)
        assert row is not None
        return row


def _held(engine: Any, joint: str = JOINT) -> list[dict]:
    """The replacement statements a bureau holds, in the order they arrived."""
    with Session(engine) as s:
        q = select(JointStatement).where(
            JointStatement.joint_key == joint, JointStatement.kind == "replacement"
        )
        rows = sorted(s.exec(q).all(), key=lambda r: r.received_at)
    return [json.loads(r.envelope)["statement"] for r in rows]


def _signed(w: World | Trio, code: str, st: dict) -> dict:
    key = w.b[code].key
    return sign_statement(st, key.origin, key.private)


def _finding(w: World, code: str, credit_code: str, inspectors: list[str]) -> dict:
    phash = _row(w.b[code].engine).plan_hash
    st = {"v": 1, "type": "joint-finding", "joint": JOINT, "joint_plan_hash": phash,
          "bureau": code, "credit_code": credit_code, "outcome": "未发现问题",
          "inspected_on": "2026-12-10", "inspectors": inspectors}  # fmt: skip
    return _signed(w, code, st)


def _notices(w: World, code: str) -> list[tuple[str, str]]:
    """(recipient, round key) of every notice ``code`` queued."""
    with Session(w.b[code].engine) as s:
        return [(n.recipient, n.round_key) for n in s.exec(select(Notification)).all()]


def _told(w: World | Trio, code: str) -> list[tuple[str, str]]:
    """(kind, recipient) of every notice ``code`` queued of a team changed: a 检查组变更通知
    or a 检查任务变更通知."""
    kinds = ("team_changed", "assignment_withdrawn")
    with Session(w.b[code].engine) as s:
        rows = s.exec(select(Notification).where(col(Notification.kind).in_(kinds))).all()
    return sorted((str(n.kind), n.recipient) for n in rows)


def _assignment(w: World | Trio, code: str, inspector: str, credit_code: str) -> Notification:
    """``inspector``'s 检查任务通知 for ``credit_code`` in ``code``'s outbox."""
    with Session(w.b[code].engine) as s:
        q = select(Notification).where(
            Notification.kind == "assignment", Notification.recipient == inspector
        )
        (row,) = [n for n in s.exec(q).all() if n.payload["credit_code"] == credit_code]
        return row


def _sent(w: World | Trio, code: str, inspector: str, credit_code: str) -> None:
    """``inspector``'s 检查任务通知 for ``credit_code`` went (as a dispatcher records it)."""
    row = _assignment(w, code, inspector, credit_code)
    with Session(w.b[code].engine) as s:
        row = s.merge(row)
        row.status = NotificationStatus.sent
        s.add(row)
        s.commit()


def _bodies(w: World | Trio) -> list[str]:
    """Every notice every bureau queued, as its recipient reads it."""
    out = []
    for b in w.b.values():
        with Session(b.engine) as s:
            out += [n.subject + n.body for n in s.exec(select(Notification)).all()]
    return out


def _drawn(t: Trio, joint: str, at: tuple[str, ...] = tuple(NAMES)) -> dict:
    """Commit and reveal ``joint`` at every bureau, draw it at ``at``; the drawn teams."""
    t.commit(joint)
    for code in NAMES:
        t.reveal(code, joint)
    for code in at:
        service.draw(t.b[code].engine, t.me[code], joint)
    return _row(t.b[at[0]].engine, joint).outcome["teams"]  # type: ignore[index]


def _replace(t: Trio, code: str, joint: str, credit_code: str, inspector: str, cause: str) -> dict:
    return _recorded(t, code, joint, credit_code, inspector, cause).statement


def _recorded(t: Trio, code: str, joint: str, credit_code: str, inspector: str,
              cause: str) -> Recorded:  # fmt: skip
    return replace_member(t.b[code].engine, t.me[code], joint, credit_code, inspector,
                          cause=cause, note="因病不能到场", recorded_by="张三")  # fmt: skip


@pytest.mark.slow
def test_a_replacement_reaches_the_lead_which_publishes_the_new_members_finding(
    world: World, tmp_path: Path
) -> None:
    w = world
    plan = tmp_path / "joint.yaml"
    plan.write_text(joint_yaml(JOINT), encoding="utf-8")
    for step in ("commit", "reveal", "draw"):
        for code in NAMES:
            w.run(code, "joint", step, str(plan) if step == "commit" else JOINT)
    code, team = sorted(_row(w.b[FJ].engine).outcome["teams"].items())[0]  # type: ignore[union-attr]
    gone = team[1][1]  # Shanghai's member

    # the lead is down: Zhejiang takes the replacement by POST, the lead later by a pull.
    # The notices of Shanghai's member withdrawn and of Fujian's on that team went; Zhejiang's
    # has not gone yet
    _sent(w, SH, gone, code)
    _sent(w, FJ, team[0][1], code)
    before = _notices(w, SH)
    w.servers.stop(FJ)
    said = w.run(SH, "joint", "replace", JOINT, code, gone, "--cause", "conflict",
                 "--note", "与该企业负责人系亲属", "--by", "张三").stdout  # fmt: skip
    (st,) = _held(w.b[ZJ].engine)
    new = st["replacement"]
    assert f"replacement 1 of {SH}: {gone} leaves position 1 of {code} (conflict)" in said
    assert f"the team now: {FJ} {team[0][1]}, {SH} {new}, {ZJ} {team[2][1]}" in said
    assert f"replacement -> {ZJ}: replacement held" in said and f"replacement -> {FJ}: " in said
    assert "note" not in st and "recorded_by" not in st  # the reason stays in our audit log
    with Session(w.b[SH].engine) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.event == "JointMemberReplaced")).one()
    assert json.loads(event.payload)["note"] == "与该企业负责人系亲属"
    # the new member's 检查任务通知, and the member withdrawn is told the task is no longer theirs
    assert len(_notices(w, SH)) == len(before) + 2
    assert _notices(w, SH)[-1] == (new, JOINT)
    assert _told(w, SH) == [("assignment_withdrawn", gone)]
    # Zhejiang's member, whose notice had not gone, has it naming the team as it stands
    assert _told(w, ZJ) == []
    zj = _assignment(w, ZJ, team[2][1], code).body
    assert f"{SH} {new}" in zj and f"{SH} {gone}" not in zj
    w.start(FJ)
    assert _held(w.b[FJ].engine) == []
    w.run(FJ, "joint", "pull", JOINT)
    assert _held(w.b[FJ].engine) == [st]
    assert _told(w, FJ) == [("team_changed", team[0][1])]  # Fujian's member, told once
    w.run(FJ, "joint", "pull", JOINT)
    w.run(ZJ, "joint", "pull", JOINT)  # after the POST: held already, no one told again
    assert (_told(w, FJ), _told(w, ZJ)) == ([("team_changed", team[0][1])], [])
    assert all("亲属" not in text for text in _bodies(w))  # the reason stays in the audit log

    # the withdrawn member's finding is refused; the team as it stands publishes
    me = w.me(SH)
    with pytest.raises(SyncRejected, match=f"422.*inspectors: not the members of {SH}"):
        client.post_statement(me.partners[FJ], me.key, JOINT, _finding(w, SH, code, [gone]))
    for b in NAMES:
        w.run(b, "joint", "finding", JOINT, code, "未发现问题", "2026-12-10")
    assert f"{code}: published" in w.run(FJ, "joint", "publish", JOINT).stdout
    with Session(w.b[FJ].engine) as s:
        entry = s.exec(select(ExchangeEntry).where(ExchangeEntry.kind == "result")).one()
    assert json.loads(entry.body)["body"]["joint"]["findings"][SH]["inspectors"] == [new]

    # once our finding is made, the team no longer changes
    late = w.run(SH, "joint", "replace", JOINT, code, new, "--cause", "unavailable",
                 "--note", "出差", ok=False)  # fmt: skip
    assert late.returncode != 0 and "our finding for it is made" in late.stderr
    assert "Traceback" not in late.stderr

    bundle = tmp_path / "bundle"
    w.run(FJ, "joint", "bundle", JOINT, "--out", str(bundle))
    out = _verify(bundle)
    assert out.startswith("0 ") and "reproduced exactly" in out, out
    assert f"replacement 1 of {SH} ok: {code} position 1: {gone} -> {new} (conflict)" in out


def test_a_statement_is_checked_before_it_is_held(trio: Trio) -> None:  # noqa: F811
    """409 before the receiver has drawn; 422 naming the field for a replacement that is not
    the bureau's next of its own member, or not the pick; an identical statement is held once."""
    teams = _drawn(trio, JOINT, at=(SH, ZJ))
    code, team = sorted(teams.items())[0]
    st = _replace(trio, SH, JOINT, code, team[1][1], "unavailable")
    assert _held(trio.b[FJ].engine) == []  # the lead had not drawn: 409, nothing held
    sh = trio.me[SH]
    with pytest.raises(SyncRejected, match="409.*checked against the teams this bureau drew"):
        client.post_statement(sh.partners[FJ], sh.key, JOINT, _signed(trio, SH, st))
    service.draw(trio.b[FJ].engine, trio.me[FJ], JOINT)
    assert _held(trio.b[FJ].engine) == []
    service.pull(trio.b[FJ].engine, trio.me[FJ], JOINT)  # now drawn: the pull takes it
    assert _held(trio.b[FJ].engine) == [st]

    def post(code: str, statement: dict) -> dict:
        me = trio.me[code]
        return client.post_statement(me.partners[ZJ], me.key, JOINT, _signed(trio, code, statement))

    assert post(SH, st)["result"] == "replacement already held"
    nxt = st | {"n": 2, "withdrawn": st["replacement"]}
    cases = {  # Shanghai's statements, signed with its own key
        "n": (st | {"n": 3}, "n: 3, but the next replacement of 310000 is 2"),
        "another bureau's seat": (
            nxt | {"position": 0, "withdrawn": team[0][1]},
            f"position: seat 0 of the team of {code} is 350000's, not 310000's",
        ),
        "withdrawn": (nxt | {"withdrawn": team[1][1]}, "withdrawn: seat 1"),
        # the member withdrawn first, as unavailable: never the pick again
        "pick": (nxt | {"replacement": team[1][1]}, f"replacement: {team[1][1]}, but the pick"),
        "cause": (nxt | {"cause": "bored"}, "cause: 'bored'"),
        "a field more": (nxt | {"note": "因病"}, "note: not a field of a joint-replacement"),
    }
    for what, (bad, expected) in cases.items():
        with pytest.raises(SyncRejected, match="422") as caught:
            post(SH, bad)
        assert expected in str(caught.value), (what, caught.value)
    # a statement naming another bureau, sent by Shanghai: not Shanghai's to send
    with pytest.raises(SyncRejected, match="422.*(bureau|signed by)"):
        post(SH, nxt | {"bureau": FJ, "position": 0, "withdrawn": team[0][1]})
    assert _held(trio.b[ZJ].engine) == [st]


def test_two_bureaus_replacements_in_either_order_give_the_same_teams(
    trio: Trio,  # noqa: F811
    tmp_path: Path,
) -> None:
    teams = _drawn(trio, JOINT)
    code, team = sorted(teams.items())[0]
    first = _replace(trio, SH, JOINT, code, team[1][1], "conflict")
    done = _recorded(trio, ZJ, JOINT, code, team[2][1], "unavailable")
    other = done.statement
    # unavailable: the member is withdrawn from this team only, and named where still seated
    assert done.still_on == sorted(c for c, t in teams.items() if t[2] == team[2] and c != code)
    second = _replace(trio, SH, JOINT, code, first["replacement"], "left")  # its n = 2
    assert (first["n"], other["n"], second["n"]) == (1, 1, 2)
    # each bureau received them in another order (its own first); each holds the same teams
    assert [s["bureau"] for s in _held(trio.b[ZJ].engine)] == [SH, ZJ, SH]
    stand = {c: teams_now(trio.b[c].engine, _row(trio.b[c].engine)) for c in NAMES}
    assert stand[FJ] == stand[SH] == stand[ZJ]
    assert stand[FJ][code] == [team[0], [SH, second["replacement"]], [ZJ, other["replacement"]]]
    assert teams_as_they_stand(teams, [other, first, second]) == stand[FJ]

    bundle = tmp_path / "bundle"
    write_bundle(trio.b[ZJ].engine, JOINT, bundle)
    out = _verify(bundle)
    assert out.startswith("0 ") and "replacements: 3 ok, 1 teams changed" in out, out
    assert f"replacement 2 of {SH} ok: {code} position 1" in out

    def swap(k: int, **change: Any) -> Any:
        def edit(doc: dict) -> None:
            envs = doc["replacements"][SH]
            envs[k] = _signed(trio, SH, envs[k]["statement"] | change)

        return edit

    cases = {
        "pick": (swap(0, replacement=team[1][1]),  # the member withdrawn: never the pick
                 "statements.json: replacement 1 of 310000: replacement: recorded"),
        "n": (swap(1, n=3), "statements.json: replacement 2 of 310000: n: 3, expected 2"),
        "seat": (swap(0, position=0, withdrawn=team[0][1]),
                 f"statements.json: replacement 1 of 310000: position: seat 0 of the team of "
                 f"{code} is 350000's, not 310000's"),
        "order": (lambda d: d["replacements"][SH].reverse(),
                  "statements.json: replacement 1 of 310000: n: 2, expected 1"),
    }  # fmt: skip
    for what, (change, expected) in cases.items():
        out = _verify(_altered(bundle, tmp_path / what, "statements.json", change))
        assert out.startswith("1 ") and f"\nFAIL: {expected}" in out, (what, out)


def test_a_round_without_replacements_keeps_its_statements_file(
    trio: Trio,  # noqa: F811
    tmp_path: Path,
) -> None:
    """No ``replacements`` key (the bytes the bundle had before §13.7); an empty replacements
    key, or a key statements.json does not have, is named (it was passed over unread)."""
    _drawn(trio, JOINT, at=(FJ,))
    bundle = tmp_path / "bundle"
    write_bundle(trio.b[FJ].engine, JOINT, bundle)
    doc = json.loads((bundle / "statements.json").read_text())
    assert sorted(doc) == ["commits", "refused", "reveals"]
    out = _verify(_altered(bundle, tmp_path / "empty", "statements.json",
                           lambda d: d.update(replacements={})))  # fmt: skip
    assert out.startswith("1 ") and "FAIL: statements.json: replacements:" in out, out
    out = _verify(_altered(bundle, tmp_path / "notes", "statements.json",
                           lambda d: d.update(notes=["未核对"])))  # fmt: skip
    assert "\nFAIL: statements.json: notes: not a key of statements.json" in out, out


def test_each_bureau_tells_its_own_people_once(trio: Trio) -> None:  # noqa: F811
    """Shanghai gives two inspectors per team. When it replaces one: its other member is told
    (a 检查组变更通知, their notice having gone), the member withdrawn, whose notice had not
    gone, has it withdrawn and is told nothing; each partner tells its own member on the team
    when it takes the statement in, once however often it comes, and a replacement of
    Zhejiang's numbered 1 too is told as well, not taken for Shanghai's."""
    text = joint_yaml(JOINT, more={SH: 2})
    for code in NAMES:
        service.commit(trio.b[code].engine, trio.me[code], text)
    for code in NAMES:
        trio.reveal(code, JOINT)
    for code in NAMES:
        service.draw(trio.b[code].engine, trio.me[code], JOINT)
    code, team = sorted(_row(trio.b[FJ].engine).outcome["teams"].items())[0]  # type: ignore[union-attr]
    assert [b for b, _ in team] == [FJ, SH, SH, ZJ]
    fj, gone, stays, zj = (i for _, i in team)
    for c, i in ((FJ, fj), (SH, stays), (ZJ, zj)):
        _sent(trio, c, i, code)
    withdrawn = _assignment(trio, SH, gone, code)

    st = _replace(trio, SH, JOINT, code, gone, "conflict")
    new = st["replacement"]
    assert _told(trio, SH) == [("team_changed", stays)]
    with Session(trio.b[SH].engine) as s:
        assert s.get(Notification, withdrawn.id) is None  # never sent: withdrawn, not corrected
    assert _told(trio, ZJ) == [("team_changed", zj)]  # by the POST
    assert _told(trio, FJ) == [("team_changed", fj)]
    with Session(trio.b[FJ].engine) as s:
        body = s.exec(select(Notification).where(Notification.kind == "team_changed")).one().body
    assert f"{SH} {gone}" in body and f"{SH} {new}" in body and "回避" in body

    # taken again: by a pull, by the same POST, by a draw run again; nothing more
    service.pull(trio.b[FJ].engine, trio.me[FJ], JOINT)
    me = trio.me[SH]
    said = client.post_statement(me.partners[ZJ], me.key, JOINT, _signed(trio, SH, st))
    assert said["result"] == "replacement already held"
    service.draw(trio.b[SH].engine, trio.me[SH], JOINT)
    assert _told(trio, FJ) == [("team_changed", fj)] and _told(trio, ZJ) == [("team_changed", zj)]
    assert _told(trio, SH) == [("team_changed", stays)]

    # Zhejiang's own first replacement on the same team: its number is 1 too
    assert _replace(trio, ZJ, JOINT, code, zj, "unavailable")["n"] == 1
    other = _row(trio.b[ZJ].engine)
    assert _told(trio, FJ) == [("team_changed", fj)] * 2
    assert _told(trio, ZJ) == [("assignment_withdrawn", zj), ("team_changed", zj)]
    # Shanghai's new member, whose notice has not gone, has it naming the team as it stands
    assert _told(trio, SH) == [("team_changed", stays)] * 2
    now = teams_now(trio.b[SH].engine, other)[code]
    assert f"{ZJ} {now[3][1]}" in _assignment(trio, SH, new, code).body
    assert all("因病" not in text for text in _bodies(trio))  # the reason stays in the audit log
