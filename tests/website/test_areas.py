"""The search page's divisions (``website.areas``): the prefectures and districts in which
rounds published results, named by the GB/T 2260 table, in code order, each district with its
rounds; a code the table does not know, or none, is left out of the choice."""

from __future__ import annotations

from website.areas import District, Prefecture, by_prefecture


def test_districts_by_prefecture_in_code_order_with_their_rounds() -> None:
    found = by_prefecture([
        ("r-2016", "2016-05-03T02:00:00", {"350182": 2, "350203": 1, "999999": 4, "": 3}),
        ("r-2022", "2022-05-03T02:00:00", {"350203": 5, "350112": 1, "350102": 0}),
        ("r-late", "", {"350404": 2}),
    ])  # fmt: skip
    assert found == [
        Prefecture("350100", "福州市", [
            District("350112", "长乐区", [("r-2022", 1)]),
            District("350182", "长乐市", [("r-2016", 2)]),  # retired in 2017, named still
        ]),
        Prefecture("350200", "厦门市", [
            District("350203", "思明区", [("r-2016", 1), ("r-2022", 5)]),
        ]),
        Prefecture("350400", "三明市", [District("350404", "三元区", [("r-late", 2)])]),
    ]  # fmt: skip
    assert [p.results for p in found] == [3, 6, 2]
    assert by_prefecture([("r", "", {})]) == []
