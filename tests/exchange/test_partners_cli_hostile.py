"""``shuangsui partners retract``, ``publish-result`` and ``assist request|decline`` given what a
careless or hostile hand types. What they share goes into our signed log, kept for ever and read
by every partner: a reason with U+202E (turned around on the partners' pages), U+200B or an ESC
(a partner's terminal), or blank, was shared as typed; a day written 2026-13-01 ended in a
``ValueError`` traceback; a result was shared for a credit code with a wrong check character,
or a check item our registry does not hold; a request went to a bureau of no directory, or
with its window ending before it began, and was shared. Each is now refused naming the
option, nothing appended. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from exchange import publish
from exchange.models import AssistanceCase, ExchangeEntry
from findings import dates
from registry.models import CheckItem
from shuangsui.cli import _register_groups, app
from shuangsui.errors import UserError
from tests.exchange.bureaus import make_bureau, write_directory

CODE = "91330100MA2AYW9G32"
ASK = ["partners", "assist", "request", "--credit-code", CODE, "--division", "330100",
       "--check-item", "CCC-01", "--cert-kind", "ccc"]  # fmt: skip


@pytest.fixture
def zhejiang(engine: sa.Engine, tmp_path: Path) -> sa.Engine:
    """Zhejiang in our directory; one result of ours in the log, to be withdrawn."""
    zj = make_bureau(tmp_path, "330000")
    zj.base_url = "http://127.0.0.1:9"  # never reached
    write_directory(tmp_path / "home" / "partners.toml", [zj])
    with Session(engine) as s:
        publish.publish_result(s, credit_code=CODE, check_item="CCC-01",
                               inspected_on=dt.date(2026, 12, 1),
                               outcome="合格", round_key="r-1")  # fmt: skip
        s.commit()
    _register_groups()
    return engine


def _held(engine: sa.Engine) -> tuple[int, int]:
    with Session(engine) as s:
        entries = s.exec(select(func.count()).select_from(ExchangeEntry)).one()
        cases = s.exec(select(func.count()).select_from(AssistanceCase)).one()
        return entries, cases


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["partners", "retract", "result/r-1/{c}/CCC-01", "--reason", "撤回\u202e因原"],
         "reason: contains the invisible character U+202E"),
        (["partners", "retract", "result/r-1/{c}/CCC-01", "--reason", "  "],
         "reason: say why"),
        (["partners", "publish-result", "91330100MA2AYW9G3X", "CCC-01", "2026-12-01", "合格"],
         "credit_code: wrong check character 'X' (expected '2')"),
        (["partners", "publish-result", "{c}", "NOPE-99", "2026-12-01", "合格"],
         "check_item: 'NOPE-99' is not a check item of our registry"),
        (["partners", "publish-result", "{c}", "CCC-01", "2026-13-01", "合格"],
         "inspected_on: '2026-13-01' is not a day written YYYY-MM-DD"),
        (["partners", "publish-result", "{c}", "CCC-01", "20261201", "合格"],
         "inspected_on: '20261201' is not a day written YYYY-MM-DD"),
        (["partners", "publish-result", "{c}", "CCC-01", "2026-12-01", "合格", "--summary",
          "\x1b[8m隐藏"], "--summary: contains the control character U+001B"),
        ([*ASK, "--to", "330000", "--reason", "x", "--start", "2026-12-40", "--end",
          "2026-12-31"], "--start: '2026-12-40' is not a day written YYYY-MM-DD"),
        ([*ASK, "--to", "330000", "--reason", "x", "--start", "2026-12-10", "--end",
          "2026-12-01"], "--end: 2026-12-01 is before --start 2026-12-10"),
        ([*ASK, "--to", "999999", "--reason", "x", "--start", "2026-12-10", "--end",
          "2026-12-31"], "--to: 999999 is not a partner of the directory"),
        ([*ASK, "--to", "330000", "--reason", "协\u200b查", "--start", "2026-12-10", "--end",
          "2026-12-31"], "reason: contains the invisible character U+200B"),
    ],
)  # fmt: skip
def test_what_the_log_would_share_for_ever_is_checked_first(
    zhejiang: sa.Engine, args: list[str], said: str
) -> None:
    before = _held(zhejiang)
    result = CliRunner().invoke(app, [a.replace("{c}", CODE) for a in args])
    assert isinstance(result.exception, UserError), result.output
    assert str(result.exception).startswith(said)
    assert _held(zhejiang) == before


def test_the_same_commands_typed_well_still_share(zhejiang: sa.Engine) -> None:
    before = _held(zhejiang)
    runner = CliRunner()
    asked = runner.invoke(app, [*ASK, "--to", "330000", "--reason", "请协查\n（两行）", "--start",
                                "2026-12-10", "--end", "2026-12-31"])  # fmt: skip
    assert asked.exit_code == 0, asked.output
    gone = runner.invoke(app, ["partners", "retract", f"result/r-1/{CODE}/CCC-01", "--reason",
                               "证书信息有误"])  # fmt: skip
    assert gone.exit_code == 0, gone.output
    assert _held(zhejiang) == (before[0] + 2, before[1] + 1)


def test_a_result_is_not_shared_for_a_day_to_come(zhejiang: sa.Engine) -> None:
    """``publish-result`` shared a result dated after today (a typo of the year or month) into
    the log every partner keeps for good; now the day is refused, naming today and the zone,
    and nothing is appended. Today itself is a day a check can take place."""
    runner = CliRunner()
    today = dates.today()
    before = _held(zhejiang)
    ahead = runner.invoke(app, ["partners", "publish-result", CODE, "CCC-01",
                                str(today + dt.timedelta(days=1)), "合格"])  # fmt: skip
    assert isinstance(ahead.exception, UserError), ahead.output
    assert str(ahead.exception).startswith(
        f"inspected_on: {today + dt.timedelta(days=1)} is in the future (today is {today}, "
    )
    assert _held(zhejiang) == before
    with Session(zhejiang) as s:  # the item our registry holds, for a result it can share
        s.add(CheckItem(code="CCC-01", name="强制性产品认证获证产品一致性检查",
                        legal_basis="《强制性产品认证管理规定》", cert_kinds=["ccc"],
                        updated_at=dt.datetime.now(dt.UTC)))  # fmt: skip
        s.commit()
    done = runner.invoke(app, ["partners", "publish-result", CODE, "CCC-01", str(today), "合格",
                               "--round-key", "r-2"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert _held(zhejiang) == (before[0] + 1, before[1])


def test_an_entry_retracted_already_is_not_retracted_again(zhejiang: sa.Engine) -> None:
    """A second retraction of one entry said nothing new, and stayed in the log every partner
    keeps for good; now it is refused, naming the first, and nothing is appended."""
    runner = CliRunner()
    retract = ["partners", "retract", f"result/r-1/{CODE}/CCC-01", "--reason", "证书信息有误"]
    first = runner.invoke(app, retract)
    assert first.exit_code == 0, first.output
    before = _held(zhejiang)
    again = runner.invoke(app, retract)
    assert isinstance(again.exception, UserError), again.output
    said = str(again.exception)
    assert said.startswith(f"entry result/r-1/{CODE}/CCC-01 is retracted already (by retraction/")
    assert _held(zhejiang) == before
