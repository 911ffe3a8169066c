"""A partner's ``base_url`` is an http(s) address with a host and at most a path: one holding a
user name and password (they went to the partner as Basic credentials on every sync request,
and were printed in its status with the address), a query, a fragment or a ``..`` segment
disables that partner, and the reason never repeats the password."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.directory import read_directory
from exchange.keys import load_or_create


def _directory(tmp_path: Path, base_url: str) -> Path:
    key = load_or_create(tmp_path / "keys", "310000").public.text
    path = tmp_path / "partners.toml"
    path.write_text(f'[[partner]]\ncode = "310000"\nname = "上海"\ndivision = "310000"\n'
                    f'base_url = "{base_url}"\nkeys = ["{key}"]\n', encoding="utf-8")  # fmt: skip
    return path


@pytest.mark.parametrize(
    "base_url",
    [
        "https://feed:s3cret-pw@exchange.sh.example",
        "https://exchange.sh.example/feed?x=1",
        "https://exchange.sh.example/feed#top",
        "https://exchange.sh.example/feed/../../admin",
        "https:///feed",
    ],
)
def test_a_base_url_beyond_an_address_and_a_path_disables_the_partner(
    tmp_path: Path, base_url: str
) -> None:
    directory = read_directory(_directory(tmp_path, base_url))
    assert directory.partners == {}
    (disabled,) = directory.disabled
    assert disabled.code == "310000" and disabled.field == "base_url"
    assert "s3cret-pw" not in str(disabled)


@pytest.mark.parametrize(
    "base_url", ["https://exchange.sh.example/", "http://127.0.0.1:8372/shuangsui/feed"]
)
def test_an_address_with_a_path_is_a_partner(tmp_path: Path, base_url: str) -> None:
    partner = read_directory(_directory(tmp_path, base_url)).partners["310000"]
    assert partner.base_url == base_url.rstrip("/")
