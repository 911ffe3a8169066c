"""Every write to the finding tables is logged with its round by the database itself
(``finding_change``, migration 0017): what the public site's fingerprints stand on."""

from __future__ import annotations

import sqlalchemy as sa

from findings import service
from tests.findings.factories import ROUND, drawn_round, final_finding, finding


def _log(engine: sa.Engine) -> list[tuple[int, str]]:
    query = sa.text("SELECT id, round_key FROM finding_change ORDER BY id")
    with engine.connect() as conn:
        return [(i, key) for i, key in conn.execute(query)]


def test_each_insert_update_and_delete_adds_a_row_naming_its_round(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    code = sorted(teams)[0]
    team = teams[code]
    assert _log(engine) == []
    final_finding(engine, code, team)  # a finding, a version, one sign-off per member
    after_submit = _log(engine)
    assert len(after_submit) == 2 + len(team) and {r for _, r in after_submit} == {ROUND}
    v = service.submit(engine, round_key=ROUND, credit_code=code,
                       data=finding("other", reason="更正"), submitted_by=f"inspector:{team[0]}",
                       signers=[team[0]])  # fmt: skip
    assert v is not None and len(_log(engine)) == len(after_submit) + 2  # version + sign-off
    before = _log(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE finding_version SET reason = 'x' WHERE id = :id"),
                     {"id": v.id})  # fmt: skip
        conn.execute(sa.text("DELETE FROM finding_signoff WHERE version_id = :id"), {"id": v.id})
        conn.execute(sa.text("UPDATE finding SET created_at = created_at"))  # still a write
    log = _log(engine)
    assert len(log) == len(before) + 3 and {r for _, r in log} == {ROUND}
    assert [i for i, _ in log] == sorted({i for i, _ in log})  # ids only grow


def test_a_write_rolled_back_leaves_no_row(engine: sa.Engine) -> None:
    teams = drawn_round(engine)
    code = sorted(teams)[0]
    final_finding(engine, code, teams[code])
    before = _log(engine)
    with engine.connect() as conn, conn.begin() as tx:
        conn.execute(sa.text("UPDATE finding_version SET reason = 'y'"))
        tx.rollback()
    assert _log(engine) == before
