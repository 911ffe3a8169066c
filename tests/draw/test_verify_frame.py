"""verify.py's streaming read of the enterprise frame and its compact Frame: the same verdicts,
the same first problem named, the same selection as the plain reading and the whole sort."""

import functools
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from draw.bundle import write_bundle
from draw.core import draw

from .factories import make_inputs, plan_dict
from .test_bundle import _fail
from .vectors import load_reference

ref = load_reference()
FRAME = "frame-enterprises.jsonl"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    inputs = make_inputs(300, 30)
    bundle = tmp_path_factory.mktemp("bundle") / "FJ-2026-12-CCC"
    write_bundle(bundle, inputs, draw(inputs), {"bureau": "福建省市场监督管理局"})
    return bundle


def _canonical(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _rewrite(bundle: Path, out: Path, changes: dict[int, Any]) -> Path:
    """A copy of ``bundle`` in ``out`` whose frame line n (0-based) is changes[n]: a dict to
    merge into the row, or the line's new text."""
    out.mkdir()
    for f in bundle.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    lines = (out / FRAME).read_text(encoding="utf-8").splitlines()
    for n, change in changes.items():
        lines[n] = change if isinstance(change, str) else _canonical(json.loads(lines[n]) | change)
    (out / FRAME).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return out


def _code(bundle: Path, n: int) -> str:
    return json.loads((bundle / FRAME).read_text(encoding="utf-8").splitlines()[n])["credit_code"]


def test_a_unit_outside_the_population_is_named_by_its_line(pristine: Path, tmp_path: Path) -> None:
    bundle = _rewrite(
        pristine, tmp_path / "b", {2: {"status": "bogus"}, 7: {"cert_kinds": ["XYZ"]}}
    )
    assert _fail(bundle) == (
        f"FAIL: frame-enterprises.jsonl: line 3 ({_code(bundle, 2)}): unknown status 'bogus'"
    )


def test_a_later_unreadable_line_is_named_before_an_earlier_unit_out_of_scope(
    pristine: Path, tmp_path: Path
) -> None:
    """As the plain reading: every line is read and shaped before any is checked against the
    plan."""
    later = (pristine / FRAME).read_text(encoding="utf-8").splitlines()[40].replace(":", ": ", 1)
    bundle = _rewrite(pristine, tmp_path / "b", {2: {"status": "bogus"}, 40: later})
    assert _fail(bundle) == "FAIL: frame-enterprises.jsonl: line 41: not in canonical JSON form"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cert_kinds": [1.5]}, "line 6: not valid JSON (floats are not allowed: 1.5)"),
        ({"cert_kinds": [2**60]}, "line 6: integer outside +-(2**53 - 1)"),
        ({"note": 5}, "line 6: field note must be str"),
        ('{"a":1}', "line 6: fields must be ['cert_kinds', 'credit_code', 'division_code', "
                    "'note', 'risk_class', 'status', 'stratum'], found ['a']"),
        ("{not json", "line 6: not valid JSON (Expecting property name enclosed in double "
                      "quotes: line 1 column 2 (char 1))"),
    ],
)  # fmt: skip
def test_a_line_not_as_documented_is_named_as_the_plain_reading_names_it(
    pristine: Path, tmp_path: Path, change: Any, message: str
) -> None:
    bundle = _rewrite(pristine, tmp_path / "b", {5: change})
    assert _fail(bundle) == "FAIL: frame-enterprises.jsonl: " + message


def test_a_line_out_of_order(pristine: Path, tmp_path: Path) -> None:
    lines = (pristine / FRAME).read_text(encoding="utf-8").splitlines()
    bundle = _rewrite(pristine, tmp_path / "b", {10: lines[11], 11: lines[10]})
    assert _fail(bundle) == (
        "FAIL: frame-enterprises.jsonl: line 12 is not in strictly ascending credit_code order"
    )


def test_read_frame_is_the_plain_reading(pristine: Path) -> None:
    plan = json.loads((pristine / "plan.json").read_text(encoding="utf-8"))
    frame = ref.read_frame(str(pristine), plan)
    ents = ref.read_jsonl(str(pristine), FRAME, "credit_code")
    plain = ref.as_frame(ents)
    assert frame.digests == plain.digests == ref.frame_digests(ents)
    assert frame.tally == plain.tally
    assert {k: (bytes(v[0]), v[1]) for k, v in frame.pools.items()} == {
        k: (bytes(v[0]), v[1]) for k, v in plain.pools.items()
    }
    seed = bytes(range(32))
    assert ref.select_all(seed, plan, frame) == ref.select_all(seed, plan, ents)


def test_read_frame_holds_far_less_than_the_file(tmp_path: Path) -> None:
    """Each unit is kept as lp(credit_code) and a shared tuple, not as a parsed row."""
    inputs = make_inputs(5000, 30)
    bundle = write_bundle(tmp_path / "b", inputs, draw(inputs))
    plan = json.loads((bundle / "plan.json").read_text(encoding="utf-8"))
    tracemalloc.start()
    try:
        frame = ref.read_frame(str(bundle), plan)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frame.digests[0] == 5000
    assert peak < (bundle / FRAME).stat().st_size / 3


def _whole_sort(seed: bytes, plan: dict[str, Any], ents: list[dict]) -> list[tuple[str, str]]:
    """(stratum, credit_code) of each randomly selected unit, rank by rank, by sorting each
    stratum's units whole (§7): what the selection's heap must give."""
    strata, _, _ = ref.select_all(seed, plan, ents)
    drawn = {s["stratum"]: s["drawn"] for s in strata}
    w = plan["strata"]["weights"]
    out = []
    for s in sorted(drawn):
        units = [e for e in ents if e["stratum"] == s and e["status"] == "random"]
        if w is None:
            units.sort(key=lambda e: (ref.ticket(seed, e["credit_code"]), e["credit_code"]))
        else:

            def key(e: dict) -> tuple[int, Any, str]:
                h = int.from_bytes(ref.ticket(seed, e["credit_code"]), "big")
                return h, w.get(e["risk_class"], w.get("*")), e["credit_code"]

            units.sort(key=lambda e: functools.cmp_to_key(ref.weighted_cmp)(key(e)))
        out += [(s, e["credit_code"]) for e in units[: drawn[s]]]
    return out


@pytest.mark.parametrize(
    "strata",
    [
        {"weights": None},
        {"weights": None, "total_cap": 7},
        {"weights": {"A": 1, "B": 2, "C": 3, "D": 5}},
        {"weights": {"*": 2, "D": 7}, "min_per_stratum": 3},
        {"weights": {"A": 0, "B": -3, "C": 3, "D": 5}},  # not a plan's: sorted whole
        {"weights": None, "total_cap": -3},  # not a plan's: sorted whole
    ],
)
def test_the_selection_is_the_whole_sort_first_units(strata: dict[str, Any]) -> None:
    plan = dict(
        make_inputs(1, 1, plan=plan_dict(strata={"by": ["division"], "rates": {"*": "20%"}})).plan
    )
    plan["strata"] = dict(plan["strata"], **strata)
    ents = [u.to_json() for u in make_inputs(600, 1).enterprises]
    for e in ents:
        e["stratum"] = ref.stratum_label(plan, e["division_code"], e["risk_class"])
    seed = bytes(range(32))
    _, selected, order = ref.select_all(seed, plan, ents)
    assert [(x["stratum"], x["credit_code"]) for x in selected] == _whole_sort(seed, plan, ents)
    by_code = {e["credit_code"]: e for e in ents}
    for x in order:
        e = by_code[x["credit_code"]]
        assert x == {k: e[k] for k in ("credit_code", "risk_class", "division_code", "cert_kinds")}


def test_verify_py_counts_bits_the_same_on_every_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """verify.py counts set bits with int.bit_count where Python has it (3.10+) and by the
    binary text before: the two counts, and the picks made with each, are the same."""
    import random

    from draw import teams, verify_bundle

    assert verify_bundle.popcount is int.bit_count
    rng = random.Random(17)
    masks = [rng.getrandbits(bits) | 1 for bits in (1, 7, 64, 65, 1_000, 50_000) for _ in range(20)]
    picks = [(m, rng.randrange(m.bit_count())) for m in masks]
    expected = [teams.nth_set_bit(m, r) for m, r in picks]
    for m, (_, r), n in zip(masks, picks, expected, strict=True):
        assert verify_bundle._popcount(m) == m.bit_count()
        assert (m >> n) & 1 and (m & ((1 << n) - 1)).bit_count() == r
    for count in (int.bit_count, verify_bundle._popcount):  # as on 3.10+, as before 3.10
        monkeypatch.setattr(verify_bundle, "popcount", count)
        assert [verify_bundle.nth_set_bit(m, r) for m, r in picks] == expected
