import dataclasses
import random

import pytest

from draw.core import DrawInputs, Selection, commitments, draw, select_at, select_random
from draw.errors import EntropyInvalid, FrameError
from draw.frame import EnterpriseFrame

from .factories import WITNESS, make_inputs


def shuffled(inputs: DrawInputs, seed: int) -> DrawInputs:
    rng = random.Random(seed)
    ents, insps = list(inputs.enterprises), list(inputs.inspectors)
    rng.shuffle(ents)
    rng.shuffle(insps)
    return dataclasses.replace(inputs, enterprises=ents, inspectors=insps)


def test_result_does_not_depend_on_row_order() -> None:
    inputs = make_inputs(500, 40)
    first = draw(inputs)
    for s in range(3):
        assert draw(shuffled(inputs, s)) == first


@pytest.mark.parametrize("weights", [None, {"*": 1, "C": 3, "D": 5}])
def test_prefix_consistency_k_then_k_plus_1(weights: dict | None) -> None:
    """Same seed, growing quota: the sample of k is a prefix of the sample of k + 1."""
    plan = dict(make_inputs(10).plan)
    plan["strata"] = {**plan["strata"], "weights": weights}
    inputs = make_inputs(400, 10)
    pool = [u for u in inputs.enterprises if u.status == "random"]
    seed = bytes(range(32))
    previous: list[Selection] = []
    for k in range(0, 40):
        current = select_random(seed, plan, pool, dict.fromkeys("ABCD", k))
        for stratum in "ABCD":
            now = [s for s in current if s.stratum == stratum]
            before = [s for s in previous if s.stratum == stratum]
            assert now[: len(before)] == before and len(now) == k
        previous = current


@pytest.mark.parametrize("weights", [None, {"*": 1, "C": 3, "D": 5}])
def test_selecting_in_place_equals_selecting_from_the_pool(weights: dict | None) -> None:
    """The draw picks its random units out of the whole frame by position: the same picks,
    ranks and tickets as from a pool of those units alone."""
    plan = dict(make_inputs(10).plan)
    plan["strata"] = {**plan["strata"], "weights": weights}
    units = list(make_inputs(600, 10).enterprises)
    for i in range(0, len(units), 5):
        units[i] = dataclasses.replace(units[i], status="excluded", note="checked in 2026")
    frame = EnterpriseFrame.of(units)
    pool = [u for u in frame if u.status == "random"]
    assert 0 < len(pool) < len(frame)  # some units are not random: positions are not 0..n-1
    seed = bytes(range(32))
    for k in (0, 3, 40, len(pool)):
        quota = dict.fromkeys("ABCD", k)
        expected = select_random(seed, plan, pool, quota)
        assert select_at(seed, plan, frame, frame.positions("random"), quota) == expected


def test_seed_changes_with_every_committed_input() -> None:
    base = make_inputs(100, 10)
    seeds = {draw(base).seed}
    seeds.add(draw(dataclasses.replace(base, round_key="other")).seed)
    seeds.add(draw(dataclasses.replace(base, enterprises=base.enterprises[1:])).seed)
    seeds.add(draw(dataclasses.replace(base, inspectors=base.inspectors[1:])).seed)
    conflict = frozenset({(base.inspectors[0].inspector_id, base.enterprises[0].credit_code)})
    seeds.add(draw(dataclasses.replace(base, conflicts=conflict)).seed)
    other = {**WITNESS, "digits": "99999999999999999999"}
    seeds.add(draw(dataclasses.replace(base, entropy=[other])).seed)
    assert len(seeds) == 6


def test_committed_values_are_checked() -> None:
    inputs = make_inputs(100, 10)
    com = commitments(inputs)
    assert draw(inputs, com).commitments == com
    later = dataclasses.replace(inputs, enterprises=inputs.enterprises[1:])
    with pytest.raises(FrameError, match="differ from the commitments"):
        draw(later, com)


def test_bad_frames_and_entropy_are_refused() -> None:
    inputs = make_inputs(50, 10)
    dup = dataclasses.replace(inputs, enterprises=[*inputs.enterprises, inputs.enterprises[0]])
    with pytest.raises(FrameError, match="appears twice"):
        draw(dup)
    moved = dataclasses.replace(inputs.enterprises[0], stratum="Z")
    with pytest.raises(FrameError, match="stratum 'Z'"):
        draw(dataclasses.replace(inputs, enterprises=[moved, *inputs.enterprises[1:]]))
    with pytest.raises(EntropyInvalid):
        draw(dataclasses.replace(inputs, entropy=[]))


def test_targeted_do_not_count_in_random_strata() -> None:
    inputs = make_inputs(200, 40)
    code = inputs.enterprises[0].credit_code
    targeted = dataclasses.replace(inputs.enterprises[0], status="targeted", note="投诉")
    result = draw(dataclasses.replace(inputs, enterprises=[targeted, *inputs.enterprises[1:]]))
    kinds = {s.credit_code: s.kind for s in result.selected}
    assert kinds[code] == "targeted"
    stratum = next(c for c in result.strata if c.stratum == targeted.stratum)
    assert stratum.targeted == 1 and stratum.eligible == sum(
        1 for u in inputs.enterprises[1:] if u.stratum == targeted.stratum
    )
    assert code in result.teams
