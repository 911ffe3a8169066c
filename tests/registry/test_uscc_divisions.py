"""Credit codes (GB 32100-2015) with the audited whitelist, and the division table."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest
from stdnum.cn import uscc as stdnum_uscc

from registry import uscc
from registry.divisions import divisions, load_divisions

REAL = "91110000600037341L"  # the example of python-stdnum's documentation


def test_check_character_agrees_with_stdnum() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        first17 = "".join(rng.choice(uscc.ALPHABET) for _ in range(17))
        assert uscc.check_character(first17) == stdnum_uscc.calc_check_digit(first17)
    assert uscc.problem(REAL) is None
    assert uscc.is_valid_stdnum(REAL)


def test_made_codes_are_valid() -> None:
    for n in range(200):
        made = uscc.make("91", "350102", f"{n:08d}")
        assert stdnum_uscc.is_valid(made), made
        assert uscc.problem(made) is None


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("91110000600037341M", "wrong check character 'M' (expected 'L')"),
        ("9111000060003734", "must be 18 characters"),
        (
            "350100400012345",
            "got 15: this looks like an old 工商注册号 (registration number); "
            "write the enterprise's 18-character 统一社会信用代码",
        ),
        ("91110000600037341I", "characters not allowed"),
        ("91AB0000600037341L", "characters 3-8 must be"),
        ("91990000600037341L", "not a GB/T 2260 division code"),
    ],
)
def test_bad_codes_say_why(code: str, reason: str) -> None:
    assert reason in (uscc.problem(code) or "")


def test_a_column_of_codes_is_judged_as_each_code_is() -> None:
    """The importer checks a column of codes at once (``uscc.acceptable``) and sends only the
    ones it does not pass to ``uscc.problem``: on good codes, codes with one character
    changed (to another of the alphabet, a lower-case letter, a space, a letter the alphabet
    leaves out, a Chinese character), one short, one long, and an empty cell, it passes
    exactly those ``problem`` finds nothing wrong with."""
    rng = random.Random(11)
    codes = [
        uscc.make("91", rng.choice(["350102", "310101", "110101"]), f"{n:08d}") for n in range(400)
    ]
    changes = [*uscc.ALPHABET, "a", "l", " ", "I", "O", "中", "\u00e9"]
    for made in list(codes):
        at = rng.randrange(18)
        codes.append(made[:at] + rng.choice(changes) + made[at + 1 :])
    codes += [REAL, REAL[:17], REAL + "0", "", "91990000600037341L", "１" * 18]
    verdicts = uscc.acceptable(codes).tolist()
    assert verdicts == [uscc.problem(c) is None for c in codes]
    assert 400 <= sum(verdicts) < len(codes)  # the good ones, and some changes that stay good


def test_whitelist_accepts_listed_codes_only(tmp_path: Path) -> None:
    path = tmp_path / "whitelist.csv"
    path.write_text(
        "credit_code,reason,added_on,approved_by\n"
        "91110000600037341M,issued with a wrong check character; verified 2026-01-05,"
        "2026-01-05,张三\n",
        encoding="utf-8",
    )
    whitelist = uscc.load_whitelist(path)
    assert uscc.problem("91110000600037341M", whitelist) is None
    assert uscc.problem("91110000600037341N", whitelist) is not None
    assert whitelist["91110000600037341M"].reason.startswith("issued with")


def test_whitelist_entries_need_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "whitelist.csv"
    path.write_text("credit_code,reason,added_on,approved_by\n91110000600037341M,,,\n")
    with pytest.raises(ValueError, match="needs an 18-character code and a reason"):
        uscc.load_whitelist(path)


def test_shipped_whitelist_loads() -> None:
    assert isinstance(uscc.load_whitelist(), dict)


def test_division_table_covers_the_six_provinces_and_fujian() -> None:
    table = divisions()
    for code in ("310000", "320000", "330000", "340000", "350000", "360000"):
        assert table.is_known(code)
    fujian = [f"350{n}00" for n in range(1, 10)]
    names = [table.name(c) for c in fujian]
    assert names == [
        "福州市",
        "厦门市",
        "莆田市",
        "三明市",
        "泉州市",
        "漳州市",
        "南平市",
        "龙岩市",
        "宁德市",
    ]
    counties = [c for c in table.versions if c.startswith("35") and not c.endswith("00")]
    assert {c[:4] for c in counties} == {f"350{n}" for n in range(1, 10)}
    assert len(counties) >= 80


def test_division_codes_are_versioned() -> None:
    table = load_divisions()
    assert table.in_force("350182", date(2010, 1, 1))  # 长乐市
    assert not table.in_force("350182", date(2020, 1, 1))
    assert table.in_force("350112", date(2020, 1, 1))  # 长乐区
    assert table.name("350112") == "长乐区"
