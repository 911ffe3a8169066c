"""``shuangsui notifications relink --end-old`` given again for the same reason. Before, it
ended nothing whenever the member's current link had been begun for that reason: a member who
lost the new link too (a second phone lost, the new notice forwarded again) kept it open to
whoever held it, unless the coordinator made up another reason. The rule now: the command
given again while the new link it made has not been sent (twice in a row, two processes at
once) is the same command and ends nothing more; once that link has been sent, the same
command ends it too."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.app import create_app
from notifications.dispatch import dispatch
from notifications.generations import LinkGeneration
from notifications.models import Notification, NotificationKind
from rounds.models import AuditEvent
from shuangsui.cli import _register_groups, app
from shuangsui.config import get_settings
from tests.deploy.procs import shuangsui
from tests.findings.factories import ROUND
from tests.findings.live import serve
from tests.workspace.helpers import delivered_round, outbox_link, sign_in

BY, REASON = "李协调", "手机遗失"
REPLACED_ZH = "此链接已被作废并更换"


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def _args(member: str, code: str, by: str = BY, reason: str = REASON) -> list[str]:
    return ["notifications", "relink", "--round", ROUND, "--by", by, "--reason", reason,
            "--inspector", member, "--credit-code", code, "--end-old"]  # fmt: skip


def _end(cli: CliRunner, member: str, code: str) -> str:
    done = cli.invoke(app, _args(member, code))
    assert done.exit_code == 0, (done.output, done.exception)
    return done.output


def _generations(engine: sa.Engine) -> list[int]:
    with Session(engine) as s:
        return sorted(r.generation for r in s.exec(select(LinkGeneration)).all())


def _ended(engine: sa.Engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(AuditEvent).where(AuditEvent.event == "LinkEnded")).all())


def _links(engine: sa.Engine, member: str) -> list[str]:
    """The links of the member's 检查链接重新发送, oldest first, as paths."""
    with Session(engine) as s:
        sent = s.exec(select(Notification).where(
            Notification.kind == NotificationKind.link_reissued,
            Notification.recipient == member).order_by(Notification.id)).all()  # fmt: skip
    return [m.payload["link"][m.payload["link"].index("/w/open/") :] for m in sent]


def test_the_same_command_after_the_new_link_was_sent_ends_that_link_too(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    (code, team), *_ = sorted(delivered_round(engine, monkeypatch).items())
    member = team[0]
    assert "is ended" in _end(cli, member, code)
    again = _end(cli, member, code)  # twice in a row, nothing sent between: the same command
    assert "nothing more ended" in again and "has not been sent yet" in again
    assert _generations(engine) == [1] and len(_links(engine, member)) == 1
    assert dispatch(engine=engine).sent == 1  # the new link reaches the member ...
    (first,) = _links(engine, member)
    lost = _end(cli, member, code)  # ... who loses it too: the same command, the same reason
    assert f"the earlier link of {member} to {code} is ended" in lost
    assert "generation 2 now" in lost
    assert _generations(engine) == [1, 2] and _ended(engine) == 2
    first_again, second = _links(engine, member)
    assert first_again == first and second != first
    token = parse_qs(urlsplit(second).query)["token"][0]
    assert token not in first
    with serve(create_app(engine=engine)) as base:
        with httpx.Client(base_url=base) as holder:  # whoever has the lost new link
            refused = holder.get(first)
            assert refused.status_code == 403 and REPLACED_ZH in refused.text
        with httpx.Client(base_url=base) as inspector:
            assert sign_in(inspector, second).status_code == 303
    assert "nothing more ended" in _end(cli, member, code)  # not sent yet: nothing more
    assert _generations(engine) == [1, 2]


def test_two_processes_at_once_end_one_link(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two coordinators (or one, twice) start the same command at the same moment, as two
    processes: one link ended and one message queued, whether the link was generation 0 or a
    new link already sent."""
    (code, team), *_ = sorted(delivered_round(engine, monkeypatch).items())
    member = team[1]
    home = Path(get_settings().home)
    env = {"SHUANGSUI_DATABASE_URL": get_settings().resolved_database_url,
           "SHUANGSUI_HOME": str(home), "SHUANGSUI_ENVIRONMENT": "test"}  # fmt: skip

    def both() -> list[str]:
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(
                lambda cwd: shuangsui(cwd, *_args(member, code), **env),
                [home.parent, home.parent]))  # fmt: skip
        for run in runs:
            assert run.returncode == 0, run.stderr
        return sorted(run.stdout for run in runs)

    said = both()
    assert sum("is ended" in out for out in said) == 1, said
    assert sum("nothing more ended" in out for out in said) == 1, said
    assert sum(f"already ended by {BY} at " in out for out in said) == 1, said
    assert _generations(engine) == [1] and _ended(engine) == 1
    assert len(_links(engine, member)) == 1
    assert dispatch(engine=engine).sent == 1
    said = both()  # the new link sent and lost: ended once more, not twice
    assert sum("is ended" in out for out in said) == 1, said
    assert _generations(engine) == [1, 2] and _ended(engine) == 2
    assert len(_links(engine, member)) == 2


def test_two_coordinators_with_two_causes_at_once_end_one_link(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two coordinators end one member's link at the same moment, each for a cause of their
    own (a phone lost; the notice forwarded to the enterprise), as two processes. Both causes
    are about the link the member was sent; the new link the first ending made has not left,
    so nobody but the member can come to hold it, and ending it too would protect nothing: one
    link is ended, the other command says whose ending made the current link, when and why,
    and both are audited with their causes. Before, each cause counted as a loss of its own:
    two links ended, the first's new link before any message had carried it. Once the new
    link has been sent, another cause ends it (docs/workspace.md, "Two endings of one
    link")."""
    (code, team), *_ = sorted(delivered_round(engine, monkeypatch).items())
    member = team[0]
    home = Path(get_settings().home)
    env = {"SHUANGSUI_DATABASE_URL": get_settings().resolved_database_url,
           "SHUANGSUI_HOME": str(home), "SHUANGSUI_ENVIRONMENT": "test"}  # fmt: skip
    causes = [(BY, REASON), ("王协调", "通知被转发给企业")]
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda c: shuangsui(home.parent, *_args(member, code, *c), **env),
                             causes))  # fmt: skip
    for run in runs:
        assert run.returncode == 0, run.stderr
    said = [run.stdout for run in runs]
    (first,) = [(by, why) for (by, why), out in zip(causes, said, strict=True)
                if "is ended" in out]  # fmt: skip
    (second,) = [out for out in said if "nothing more ended" in out]
    assert f"already ended by {first[0]} at " in second and f"({first[1]})" in second
    assert "has not been sent yet" in second
    assert _generations(engine) == [1] and _ended(engine) == 1
    with Session(engine) as s:
        audited = s.exec(select(AuditEvent).where(AuditEvent.event == "LinksReissued")).all()
    reasons = sorted(json.loads(e.payload)["reason"] for e in audited)
    assert reasons == sorted(why for _, why in causes)  # the second cause is kept too
    links = _links(engine, member)
    assert len(links) == 1  # the second cause's message took the place of the first's
    with serve(create_app(engine=engine)) as base:
        with httpx.Client(base_url=base) as holder:  # the link sent before: ended
            refused = holder.get(outbox_link(code, member, base))
            assert refused.status_code == 403 and REPLACED_ZH in refused.text
        with httpx.Client(base_url=base) as inspector:  # the new one opens
            assert sign_in(inspector, links.pop()).status_code == 303
    assert dispatch(engine=engine).sent == 1
    third = shuangsui(home.parent, *_args(member, code, "王协调", "新通知又被转发"), **env)
    assert "is ended" in third.stdout, third.stdout + third.stderr  # the new link out: ended
    assert _generations(engine) == [1, 2] and _ended(engine) == 2
