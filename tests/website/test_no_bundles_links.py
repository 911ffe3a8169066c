"""A site published without bundles (``shuangsui publish --no-bundles``) links to no bundle it
does not hold: a round counts as bundled on its page, the open-data page and the catalogue by
the bundle the site holds, not by the round's having one to give. Every link of every page of
the site is followed on disk, and none is dead; a bundle an earlier publish wrote is still
linked (its files are there), and one withdrawn is not."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import sqlalchemy as sa

from rounds import service
from shuangsui.errors import IntegrityError
from tests.rounds.factories import plan_yaml, seed_registry
from website.site import publish

KEY = "ccc-2026-12"
NEXT = "ccc-2027-01"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [v for k, v in attrs if k in ("href", "src") and v]


def dead_links(out: Path) -> list[tuple[str, str]]:
    """(page, link) of every link of a page of the site ``out`` to a file of the site that is
    not there; links to other sites and to a place on the same page are not followed."""
    dead = []
    for page in sorted(out.rglob("*.html")):
        parser = _Links()
        parser.feed(page.read_text("utf-8"))
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not parts.path:
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                dead.append((page.relative_to(out).as_posix(), link))
    return dead


def _bundle_links(out: Path) -> list[str]:
    return [
        page.relative_to(out).as_posix()
        for page in sorted(out.rglob("*.html"))
        if "bundle/" in page.read_text("utf-8")
    ]


def drawn_round(engine: sa.Engine) -> None:
    """Round ``KEY`` drawn from 40 enterprises, its list public at once."""
    seed_registry(engine, enterprises=40)
    service.commit_round(engine=engine, plan_text=plan_yaml())
    service.draw_round(
        engine=engine,
        round_key=KEY,
        entropy=service.EntropyInput(
            witness_digits="31415926535897932384626433", witnesses=("张三", "李四")
        ),
    )


def _rounds(engine: sa.Engine) -> None:
    """A round drawn and one still to be drawn."""
    drawn_round(engine)
    service.commit_round(engine=engine, plan_text=plan_yaml(plan_id=NEXT, period="2027-01"))


def test_a_site_published_without_bundles_has_no_dead_link(
    engine: sa.Engine, tmp_path: Path
) -> None:
    _rounds(engine)
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    assert not (out / "rounds" / KEY / "bundle").exists()
    assert dead_links(out) == []
    assert _bundle_links(out) == []
    assert "bundle/" not in (out / "catalog.jsonld").read_text("utf-8")


def test_a_bundle_the_site_holds_stays_linked_when_published_without_bundles(
    engine: sa.Engine, tmp_path: Path
) -> None:
    _rounds(engine)
    out = tmp_path / "site"
    publish(engine, out)
    linked = _bundle_links(out)
    assert f"rounds/{KEY}/index.html" in linked and "data/index.html" in linked
    publish(engine, out, bundles=False)  # the bundle written before is still there
    assert (out / "rounds" / KEY / "bundle" / "MANIFEST.sha256").is_file()
    assert _bundle_links(out) == linked
    assert dead_links(out) == []


def test_a_bundle_gone_from_the_site_is_not_linked_by_a_publish_without_bundles(
    engine: sa.Engine, tmp_path: Path
) -> None:
    _rounds(engine)
    out = tmp_path / "site"
    publish(engine, out)
    (out / "rounds" / KEY / "bundle" / "verify.py").unlink()  # lost from the site
    with pytest.raises(IntegrityError, match="bundle/verify.py"):  # not written again
        publish(engine, out, bundles=False, check_files=True)
    assert dead_links(out) == []
    assert _bundle_links(out) == []
    assert "bundle/" not in (out / "catalog.jsonld").read_text("utf-8")
