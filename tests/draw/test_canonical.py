from typing import Any

import pytest
import rfc8785

from draw.canonical import canonical_json, lp, lp_fields, sha256_hex


def test_lp_is_4_byte_big_endian_length_of_utf8() -> None:
    assert lp("abc") == b"\x00\x00\x00\x03abc"
    assert lp("福建") == b"\x00\x00\x00\x06" + "福建".encode()
    assert lp("") == b"\x00\x00\x00\x00"
    assert lp_fields(["a", "bc"]) == b"\x00\x00\x00\x01a\x00\x00\x00\x02bc"


@pytest.mark.parametrize(
    "value",
    [
        {"b": 1, "a": [True, False, None], "c": {"z": "福建省", "y": -7}},
        [1, "两个\u2028分隔", {"\u00e9": 0, "e": 1}],
        {"k": 'quote " backslash \\ tab \t ctrl \u0001'},
        {"big": 2**53 - 1, "neg": -(2**53 - 1)},
    ],
)
def test_canonical_json_coincides_with_rfc8785(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_floats_are_refused_with_their_path() -> None:
    with pytest.raises(TypeError, match=r"\$\.a\[1\]: floats"):
        canonical_json({"a": [1, 0.5]})


def test_unsafe_integers_and_odd_types_are_refused() -> None:
    with pytest.raises(TypeError, match="I-JSON"):
        canonical_json({"n": 2**53})
    with pytest.raises(TypeError, match="not allowed"):
        canonical_json({"s": {1, 2}})
    with pytest.raises(TypeError, match="not a string"):
        canonical_json({1: "x"})


def test_sha256_hex() -> None:
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
