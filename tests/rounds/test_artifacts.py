"""The fast frame serialisation gives exactly the canonical bytes of the generic one."""

from __future__ import annotations

import json
import random

from draw.frame import EnterpriseUnit
from rounds.artifacts import jsonl


def test_enterprise_lines_equal_canonical_json_of_each_unit() -> None:
    rng = random.Random(3)
    notes = [
        "",
        "本局 ccc-2026-12 已检查",
        'quote " and \\\\ back\\nslash',
        "列入经营异常名录；投诉",
    ]
    codes = ["91350100MA2Y3K7R4W", "9135010", "代码", 'x"y', "A B"]
    units = [
        EnterpriseUnit(
            rng.choice(codes) + str(i),
            rng.choice(["350100", "350200"]),
            rng.choice("ABCD"),
            tuple(sorted(rng.sample(["ccc", "organic", "management_system"], rng.randint(0, 2)))),
            rng.choice(["350100/A", "*"]),
            rng.choice(["random", "targeted", "excluded"]),
            rng.choice(notes),
        )  # fmt: skip
        for i in range(500)
    ]
    expected = "".join(
        json.dumps(u.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
        for u in units
    ).encode()
    assert jsonl(units) == expected
