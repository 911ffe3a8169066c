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


def test_every_district_of_the_bureaus_area_on_the_latest_draw_day_is_listed() -> None:
    """Given the bureau's code, the districts of its area in force on the latest draw day are
    listed with no rounds beside those with results; one retired by then (三明市梅列区, 2021)
    is not, unless it has results; a division with results outside the area is listed still."""
    rounds = [
        ("r-2016", "2016-05-03T02:00:00", {"350182": 2, "310104": 1}),
        ("r-2022", "2022-05-03T02:00:00", {"350203": 5}),
    ]
    found = {d.code: d for p in by_prefecture(rounds, bureau_code="350000") for d in p.districts}
    assert found["350203"] == District("350203", "思明区", [("r-2022", 5)])
    assert found["350105"] == District("350105", "马尾区", [])  # the bureau's, none yet
    assert found["350182"].rounds == [("r-2016", 2)]  # retired, with results: named still
    assert found["310104"] == District("310104", "徐汇区", [("r-2016", 1)])  # outside, results
    assert "350402" not in found and found["350404"].name == "三元区"  # as on 2022-05-03
    assert "310101" not in found  # another province's district, no result
    assert set(found) >= {"350102", "350205", "350302", "350982"}
    assert all(len(c) == 6 and not c.endswith("00") for c in found)  # districts only
    tops = by_prefecture(rounds, bureau_code="350000")
    assert [p.code for p in tops][:3] == ["310100", "350100", "350200"]
    assert next(p for p in tops if p.code == "350300").results == 0  # 莆田市: none yet

    xiamen = by_prefecture(rounds, bureau_code="350200")  # a prefecture's bureau
    assert [p.code for p in xiamen] == ["310100", "350100", "350200"]
    assert [d.code for d in xiamen[-1].districts] == [
        "350203", "350205", "350206", "350211", "350212", "350213",
    ]  # fmt: skip
    before = by_prefecture([("r", "", {})], bureau_code="350000")  # nothing drawn yet: the
    assert before and all(p.results == 0 for p in before)  # area, as the table stands
