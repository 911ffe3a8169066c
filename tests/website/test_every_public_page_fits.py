"""Every page of the public site a citizen reaches by following links from its index, opened
in Chromium on a 390 px phone with JavaScript off, reads as ``test_phone`` holds the index
and the round page to: nothing wider than the screen, no text over other text, no JSON in
the visible text. The pages are found by following the links, not listed, so a page added
later is held to the same. Screenshots under the test's ``tmp_path``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import sqlalchemy as sa

from tests.browser import headless, phone
from tests.website.test_phone import _measure, publish_realistic_site


@pytest.mark.slow
def test_every_public_page_linked_from_the_index_fits_a_phone(
    engine: sa.Engine, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    publish_realistic_site(engine, out)
    shots = tmp_path / "screens"
    shots.mkdir()
    root = out.resolve().as_uri() + "/"
    seen: list[str] = []
    queue = [root + "index.html"]
    with headless() as browser:
        page = phone(browser).new_page()
        while queue:
            url = queue.pop(0).split("#")[0]
            if url in seen:
                continue
            seen.append(url)
            page.goto(url)
            _measure(page, shots / f"{len(seen):02d}.png", times=False)
            for href in page.eval_on_selector_all("a[href]", "a => a.map(x => x.href)"):
                target = urljoin(url, href).split("#")[0]
                if target.startswith(root) and urlsplit(target).path.endswith(".html"):
                    queue.append(target)
    pages = {unquote(u[len(root) :]) for u in seen}
    # the kinds of page the site has, each reached by a link
    for kind in ("index.html", "glossary.html", "search.html", "data/index.html",
                 "rounds/ccc-2026-12/index.html", "rounds/ccc-2026-12/commitment.html",
                 "rounds/ccc-2027-01/index.html"):  # fmt: skip
        assert kind in pages, (kind, sorted(pages))
    # every HTML file the publish wrote is reached from the index
    written = {str(p.relative_to(out)) for p in out.rglob("*.html")}
    assert written <= pages, sorted(written - pages)
