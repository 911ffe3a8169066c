"""A credit code typed with a Chinese input method in its full-width mode (全角: ９１３５…Ｘ) looks
right and is no code: each import said ``characters not allowed in a credit code: ０１３５…``, the
characters sorted, which reads as if the digits themselves were wrong. Now it is named as
full-width, with the characters that are (in their order) and the code as it is in half-width,
in English on the command line and in Chinese on the pages; the file imports nothing. On SQLite
and PostgreSQL where a database is read."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from leads.importer import import_leads
from registry import uscc
from registry.importer import import_files
from shuangsui.errors import ImportRejected
from tests.leads.helpers import outside_code
from tests.registry.helpers import dump
from workspace import import_reasons, leadforms

WIDE = str.maketrans(
    "0123456789ABCDEFGHJKLMNPQRTUWXY",
    "０１２３４５６７８９ＡＢＣＤＥＦＧＨＪＫＬＭＮＰＱＲＴＵＷＸＹ",
)
CODE = "913506044777707740"  # a real code's shape: every check passes


def _said(code: str) -> str:
    return (
        f"written in full-width characters ({code}), as a Chinese input method types them in "
        f"full-width mode (全角): type the code again in half-width characters ({CODE})"
    )


def test_a_full_width_code_is_named_so() -> None:
    assert uscc.problem(CODE) is None
    assert uscc.problem(CODE.translate(WIDE)) == _said("９ １ ３ ５ ０ ６ ４ ７")
    # one full-width character among half-width ones, and the ideographic space
    assert uscc.problem(CODE[:17] + "０") == _said("０")
    assert uscc.problem(CODE[:9] + "\u3000" + CODE[9:]) == _said("U+3000")


def _problems(refused: pytest.ExceptionInfo[ImportRejected]) -> list[str]:
    return [line.split("/")[-1] for line in str(refused.value).splitlines()[1:]]


def test_the_registry_and_the_leads_imports_say_it(engine: sa.Engine, tmp_path: Path) -> None:
    before = dump(engine)
    firms, leads = tmp_path / "enterprises.csv", tmp_path / "leads.csv"
    wide = CODE[:8] + CODE[8:].translate(WIDE)
    firms.write_text(f"credit_code,name,division_code,status\n{wide},X,350604,active\n", "utf-8")
    with Session(engine) as session, pytest.raises(ImportRejected) as refused:
        import_files(session=session, files=[("enterprises", firms)])
    assert _problems(refused) == [f"enterprises.csv:2: credit_code: {_said('４ ７ ０')}"]
    assert dump(engine) == before
    good = outside_code()
    lines = ["来源,统一社会信用代码,线索类别,收到日期", f"投诉举报,{good},产品质量,2026-11-02",
             f"投诉举报,{wide},产品质量,2026-11-02"]  # fmt: skip
    leads.write_bytes("\r\n".join(lines).encode("gbk"))  # as Excel saves it
    with pytest.raises(ImportRejected) as refused:
        import_leads(engine, leads, imported_by="陈明")
    assert _problems(refused) == [f"leads.csv:3: credit_code: {_said('４ ７ ０')}"]


def test_the_pages_say_it_in_chinese() -> None:
    reason = uscc.problem(CODE.translate(WIDE))
    assert reason is not None
    said = (
        "含有全角字符（９ １ ３ ５ ０ ６ ４ ７，多为中文输入法的全角状态输入）："
        "请切换到半角后重新输入代码（913506044777707740）"
    )
    assert import_reasons.said(reason) == said  # the round's findings import
    assert leadforms.said("credit_code", reason) == f"统一社会信用代码：{said}"  # a lead's form
