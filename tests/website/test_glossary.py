"""The glossary says what the site's numbers are and what a reader can do with them."""

from __future__ import annotations

from website.glossary import BY_KEY


def test_a_hash_is_64_characters_not_64_bits() -> None:
    text = BY_KEY["hash"].text
    assert "64 个字符" in text and "64 位" not in text


def test_the_merkle_root_promises_only_what_a_reader_can_do() -> None:
    text = BY_KEY["merkle-root"].text
    assert "证明某户企业确实在名录中" not in text  # no membership proof is offered
    # what the reader can do: verify.py recomputes it from the bundle's frame file, and the
    # reader compares it with the one published before the draw
    assert "frame-enterprises.jsonl" in text and "Merkle root ok" in text
    assert "抽取前公布" in text
