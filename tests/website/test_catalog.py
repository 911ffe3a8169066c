"""The DCAT catalogue points at the site's own files: under ``SHUANGSUI_SITE_BASE_URL`` when it
is set, relative to the catalogue when not; never at the API server (``SHUANGSUI_PUBLIC_BASE_URL``),
which does not serve the site."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin

import pytest
import sqlalchemy as sa

from rounds import service
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round
from tests.rounds.factories import plan_yaml
from website.opendata import MEDIA
from website.site import publish

API = "https://api.bureau.example:8350"
SITE = "https://www.bureau.example/shuangsui/"
NEXT = "ccc-2027-01"  # committed, not drawn: no bundle yet
VOCABULARY = ("https://www.w3.org/TR/vocab-dcat-3/", MEDIA, "spdx:")


def _ids(node: Any) -> Iterator[str]:
    """Every ``@id`` in a JSON-LD document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "@id":
                yield value
            else:
                yield from _ids(value)
    elif isinstance(node, list):
        for item in node:
            yield from _ids(item)


@pytest.mark.parametrize("site_base", ["", SITE], ids=["relative", "site-address"])
def test_every_address_in_the_catalogue_is_a_file_the_site_wrote(
    engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site_base: str
) -> None:
    monkeypatch.setenv("SHUANGSUI_PUBLIC_BASE_URL", API)
    if site_base:
        monkeypatch.setenv("SHUANGSUI_SITE_BASE_URL", site_base)
    get_settings.cache_clear()
    drawn_round(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml(plan_id=NEXT, period="2027-01"))
    out = tmp_path / "site"
    publish(engine, out)
    text = (out / "catalog.jsonld").read_text("utf-8")
    assert API not in text and "8350" not in text
    doc = json.loads(text)
    assert "@base" not in doc["@context"]  # relative addresses resolve against the document
    # wherever the site is served from: its own address, or any folder when none is set
    where = site_base or "https://anywhere.example/some/folder/"
    catalogue = urljoin(where, "catalog.jsonld")
    found = set()
    for iri in _ids(doc):
        address = urljoin(catalogue, iri)
        if address.startswith(VOCABULARY):
            continue
        assert address.startswith(where), f"{iri} is neither the site's nor a vocabulary's"
        assert site_base or not iri.startswith(("http:", "https:", "/")), iri
        rel = urldefrag(address).url[len(where) :]
        assert (out / rel).is_file(), f"{iri} -> {rel}: the site wrote no such file"
        found.add(rel)
    assert {
        "catalog.jsonld",
        "data/index.html",
        "data/results.csv",
        "data/results.json",
        f"rounds/{ROUND}/index.html",
        f"rounds/{ROUND}/commitment.json",
        f"rounds/{ROUND}/bundle/MANIFEST.sha256",
        f"rounds/{ROUND}/bundle/verify.py",
        f"data/{ROUND}.csv",
        f"rounds/{NEXT}/index.html",
        f"rounds/{NEXT}/commitment.json",
    } <= found
    assert not (out / "rounds" / NEXT / "bundle").exists()
