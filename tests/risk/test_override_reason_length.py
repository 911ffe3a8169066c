"""An override's reason is 1,000 characters at most, as the class page's field says
(``maxlength``): the page's post and ``risk override --reason`` took any length (a post that
skips the browser's limit, a document pasted on the command line), and the reason is shown with
the class and published in every later classification bundle. Now one character more is refused
naming the field, in Chinese on the page, nothing recorded or audited; 1,000 are taken. On
SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlmodel import Session, select

from api import tokens
from api.app import create_app
from risk.models import RiskOverride
from rounds import audit
from shuangsui.config import get_settings
from tests.deploy.procs import shuangsui
from tests.findings.live import serve
from tests.rounds.factories import seed_registry
from tests.workspace.helpers import csrf_of, sign_in

LONG = "现场发现伪造证书，待立案。" * 77  # 1,001 characters
assert len(LONG) == 1001


def _held(engine: sa.Engine) -> tuple[list[int], int]:
    """(the overrides' reasons' lengths, audit events)."""
    with Session(engine) as s:
        rows = s.exec(select(RiskOverride).order_by(RiskOverride.id)).all()
        return [len(r.reason) for r in rows], len(audit.load_chain(s))


def test_a_reason_past_1000_characters_is_refused_on_the_page_and_the_command_line(
    engine: sa.Engine, db_url: str, tmp_path: Path
) -> None:
    code = seed_registry(engine, enterprises=3)[0]
    ssc = tokens.create_coordinator(engine, "陈明", get_settings().bureau_code)
    before = _held(engine)
    proc = shuangsui(tmp_path, "risk", "override", code, "--class", "D", "--reason", LONG,
                     "--by", "陈明", SHUANGSUI_DATABASE_URL=db_url)  # fmt: skip
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    assert proc.stderr == (
        "error: --reason: at most 1000 characters, not 1001 (it is shown with the class and "
        "published)\n"
    )
    assert _held(engine) == before
    path = f"/w/c/risk/{code}"
    with serve(create_app(engine=engine)) as base, httpx.Client(base_url=base) as http:
        sign_in(http, f"{base}/w/c/open?token={ssc}")  # audited
        csrf = csrf_of(http.get(path).text)
        signed_in = _held(engine)
        refused = http.post(path, data={"csrf": csrf, "risk_class": "D", "reason": LONG})
        assert refused.status_code == 422
        assert "理由：过长，最多 1000 个字（现为 1001 个字）" in refused.text
        assert _held(engine) == signed_in
        taken = http.post(path, data={"csrf": csrf, "risk_class": "D", "reason": LONG[:1000]})
        assert taken.status_code == 303
    assert _held(engine) == ([1000], signed_in[1] + 1)
