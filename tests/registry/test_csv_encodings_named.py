"""A CSV's encoding, as the registry's, the leads' and the complaints' imports read it: UTF-8, else
GB18030/GBK. A UTF-8 file with one character pasted from another encoding (a Windows quote, 0x93)
was read as GB18030 whenever its bytes happened to decode so: two enterprises imported with their
names as 婕冲窞鏌愭煇鏈夐檺鍏徃 (漳州某某有限公司), nothing said. Now a file that begins with
UTF-8's byte order mark, or whose Chinese reads as UTF-8 up to that byte, is UTF-8 and refused
naming the line. A file that is neither names where each stops (it said only ``neither UTF-8 nor
GB18030/GBK text``), and UTF-16 (Excel's "Unicode text") is named as such, with how to save the
sheet. A GBK file still imports. The findings import page says each in Chinese. Nothing is
imported from a refused file. On SQLite and PostgreSQL."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from leads.importer import import_leads
from registry import io
from registry.importer import import_files
from risk.complaints import import_complaints
from shuangsui.errors import UserError
from tests.registry.helpers import dump
from workspace.import_reasons import file_refusal

FIRMS = "credit_code,name,division_code,status\n"
ROW = "913506044777707740,漳州某某有限公司,350604,active\n"
STRAY = b"91350100MA2Y3K7R4W,x\x93q,350100,active\n"  # decodes as GB18030 with the rest
UTF16 = (
    "UTF-16 text (Excel's 'Unicode text'), neither UTF-8 nor GB18030/GBK text: save the sheet "
    "as CSV (UTF-8) and import that"
)
PASTED = (
    "but not from line 3 (byte 0x93): a character pasted from another encoding; retype that "
    "line, or save the sheet again as CSV (UTF-8)"
)
FILES = {
    "utf16.csv": ((FIRMS + ROW).encode("utf-16"), UTF16),
    "utf16be.csv": (codecs.BOM_UTF16_BE + (FIRMS + ROW).encode("utf-16-be"), UTF16),
    "stray.csv": (
        (FIRMS + ROW).encode() + STRAY,
        f"UTF-8 text (its Chinese up to there is UTF-8) {PASTED}",
    ),
    "bom.csv": (
        codecs.BOM_UTF8 + FIRMS.encode() + b"91350100MA2Y3K7R4W,x,350100,active\n" + STRAY,
        f"UTF-8 text (it begins with UTF-8's byte order mark) {PASTED}",
    ),
    "gbk.csv": (
        (FIRMS + ROW * 3).encode("gbk") + b"x,\x80y\n" + ROW.encode("gbk"),
        "neither UTF-8 nor GB18030/GBK text: not UTF-8 from line 2 (byte 0xD5), not GB18030 "
        "from line 5 (byte 0x80)",
    ),
}


@pytest.mark.parametrize("name", list(FILES))
def test_each_import_names_where_the_text_stops(
    engine: sa.Engine, tmp_path: Path, name: str
) -> None:
    data, said = FILES[name]
    path = tmp_path / name
    path.write_bytes(data)
    before = dump(engine)
    with Session(engine) as session, pytest.raises(UserError) as refused:
        import_files(session=session, files=[("enterprises", path)])
    assert str(refused.value) == f"{path}: {said}"
    with pytest.raises(UserError) as refused:
        import_leads(engine, path, imported_by="林科长")
    assert str(refused.value) == f"{path}: {said}"
    with pytest.raises(UserError) as refused:
        import_complaints(engine, path, by="林科长")
    assert str(refused.value) == f"{name}: {said}"
    assert dump(engine) == before


def test_a_gbk_file_still_imports(engine: sa.Engine, tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes((FIRMS + ROW).encode("gbk"))
    with Session(engine) as session:
        import_files(session=session, files=[("enterprises", path)])
        session.commit()
    assert [row[1] for row in dump(engine)["enterprise"]] == ["漳州某某有限公司"]


def test_a_break_inside_a_character_across_blocks_is_counted_once() -> None:
    text = ("行\n" * 5).encode()
    blocks = [text[:4], text[4:7], text[7:] + b"\xff"]  # 行 split over the blocks
    said = str(io.not_text("x.csv", blocks))
    assert said.startswith("x.csv: neither UTF-8 nor GB18030/GBK text: not UTF-8 from line 6 ")


def test_the_import_page_says_it_in_chinese() -> None:
    stored = Path("/srv/tmp/upload.csv")

    def said(name: str) -> str:
        return file_refusal(f"{stored}: {FILES[name][1]}", stored, "结果.csv")

    assert said("utf16.csv") == (
        "文件 结果.csv：是 UTF-16 编码的文本（Excel 的“Unicode 文本”），不是 UTF-8 或 GB18030/GBK。"
        "请另存为“CSV UTF-8（逗号分隔）”后再导入。"
    )
    assert said("gbk.csv") == (
        "文件 结果.csv：不是 UTF-8 或 GB18030/GBK 编码的文本（按 UTF-8 读到第 2 行出错，按 GBK "
        "读到第 5 行出错，多为粘贴了别的编码的文字）。请另存为 UTF-8 CSV 后再导入。"
    )
    assert (
        said("stray.csv")
        == said("bom.csv")
        == (
            "文件 结果.csv：是 UTF-8 编码的文本，但第 3 行有不属于 UTF-8 的字节（多为从别处粘贴了"
            "其他编码的字符）。请重新输入这一行，或重新另存为 UTF-8 CSV 后再导入。"
        )
    )
