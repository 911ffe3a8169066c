"""``shuangsui leads list`` for a coordinator looking for the lead about one firm. It showed
credit codes only, every lead at once, with no search: the lead about 某某电器 was found by
reading eighteen-character codes. Each line now names the enterprise as the registry holds it
(``(not in the registry)`` when it does not), ``--search`` finds what the workspace's leads
list finds (a lead's number, part of a credit code, a name or a category), ``--limit N`` keeps
the latest N and says so, and refusals name the option."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select
from typer.testing import CliRunner

from leads import service
from leads.schemas import LeadIn
from registry.models import Enterprise
from shuangsui.cli import _register_groups, app
from tests.deploy.procs import shuangsui
from tests.leads.helpers import outside_code
from tests.rounds.factories import seed_registry


@pytest.fixture(scope="module")
def cli() -> CliRunner:
    _register_groups()
    return CliRunner()


def _lead(engine: sa.Engine, code: str, category: str = "虚假认证") -> int:
    data = {"source": "complaint", "credit_code": code, "category": category,
            "received_on": "2026-11-02"}  # fmt: skip
    lead = service.receive(engine, LeadIn.model_validate(data), by="林科长")
    assert lead.id is not None
    return lead.id


def _listed(cli: CliRunner, *args: str) -> tuple[list[int], list[str], str]:
    out = cli.invoke(app, ["leads", "list", *args])
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    return [int(line.split()[0]) for line in lines], lines, out.stderr


def test_leads_are_listed_by_name_found_as_the_page_finds_them(
    cli: CliRunner, engine: sa.Engine
) -> None:
    seed_registry(engine, enterprises=8)
    with Session(engine) as s:
        one, two = s.exec(select(Enterprise).order_by(Enterprise.credit_code)).all()[:2]
    a, b, c = (_lead(engine, one.credit_code) for _ in range(3))
    other = _lead(engine, two.credit_code, category="伪造认证证书")
    stranger_code = outside_code()
    stranger = _lead(engine, stranger_code)
    service.reject(engine, c, reason="重复", by="林科长")

    ids, lines, _ = _listed(cli)
    assert ids == [a, b, c, other, stranger]
    assert f"{one.credit_code} {one.name} 虚假认证" in lines[0]
    assert f"{two.credit_code} {two.name} 伪造认证证书" in lines[3]
    assert f"{stranger_code} (not in the registry) 虚假认证" in lines[4]

    for text in (one.name[2:8], one.credit_code.lower(), one.credit_code[-7:]):
        assert _listed(cli, "--search", text)[0] == [a, b, c], text
    assert _listed(cli, "--search", f"线索 {b}")[0] == [b]
    assert _listed(cli, "--search", f"#{a}")[0] == [a]
    assert _listed(cli, "--search", str(other))[0] == [other]
    assert _listed(cli, "--search", "伪造认证")[0] == [other]
    assert _listed(cli, "--search", one.name, "--status", "rejected")[0] == [c]
    ids, lines, said = _listed(cli, "--search", "没有这样的企业")
    assert (ids, said) == ([], "no leads found by --search '没有这样的企业'\n")

    ids, _, said = _listed(cli, "--limit", "2")
    assert ids == [other, stranger]
    assert said == "the latest 2 of 5 lead(s) shown (--limit)\n"
    assert _listed(cli, "--limit", "5")[2] == ""


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--search", "  "], "error: --search: empty; give a lead's number or part of a credit "
                             "code, a name or a category\n"),
        (["--limit", "0"], "Invalid value for '--limit'"),
        (["--limit", "ten"], "Invalid value for '--limit'"),
        (["--status", "open"], "error: --status: 'open' is not one of received, accepted, "),
    ],
)  # fmt: skip
def test_a_listing_refused_names_its_option(
    tmp_path: Path, db_url: str, args: list[str], said: str
) -> None:
    proc = shuangsui(tmp_path, "leads", "list", *args, SHUANGSUI_DATABASE_URL=db_url)
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    assert said in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
