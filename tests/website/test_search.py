"""The search page in headless Chromium, served over HTTP as a citizen reaches it.

With JavaScript: a query of several words finds the enterprises whose name or credit code holds
every word (letters in any case, full-width or half-width), and a live region says how many were
found, that none was, or that only the first ones are shown. Without JavaScript: no search box
that does nothing, but a visible note on where else to look (the round pages, results.csv).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from rounds import service
from tests.browser import headless, phone
from tests.rounds.factories import plan_yaml, seed_registry
from website.render import SEARCH_LIMIT
from website.site import publish

KEY = "ccc-2026-12"
DRAWN = SEARCH_LIMIT + 30  # every enterprise of the frame is drawn
NAMES = {3: "福州新华家用电器有限公司", 4: "厦门华新电器（集团）有限公司", 5: "新华书店有限公司"}


def _full_width(text: str) -> str:
    """``text`` as a Chinese input method in full-width mode types it (Ａ-Ｚ, ０-９)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def site(engine: sa.Engine, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A published round drawing all of its enterprises, served on loopback: (URL, codes)."""
    codes = seed_registry(engine, enterprises=DRAWN, inspectors=60)
    with engine.begin() as conn:
        for i, name in NAMES.items():
            conn.execute(
                sa.text("UPDATE enterprise SET name = :n WHERE credit_code = :c"),
                {"n": name, "c": codes[i]},
            )
    every = "{A: '100%', B: '100%', C: '100%', D: '100%'}"
    service.commit_round(engine=engine, plan_text=plan_yaml(rates=every, workload_cap=20))
    service.draw_round(
        engine=engine,
        round_key=KEY,
        entropy=service.EntropyInput(
            witness_digits="31415926535897932384626433", witnesses=("张三", "李四")
        ),
    )
    out = tmp_path / "site"
    publish(engine, out, bundles=False)
    with served(out) as url:
        yield url + "search.html", codes


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """``folder`` served over HTTP on loopback (the search page fetches its index, which a
    ``file:`` page may not): its address, ending in ``/``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.slow
def test_search_finds_every_word_and_says_what_it_found(site: tuple[str, list[str]]) -> None:
    url, codes = site
    lettered = next(c for c in codes if any(ch.isalpha() for ch in c))
    with headless() as browser:
        page = phone(browser, javascript=True).new_page()
        page.goto(url)
        box, status, hits = (
            page.locator("#q"),
            page.locator("#status"),
            page.locator("#hits li"),
        )
        expect(box).to_be_visible()
        assert status.get_attribute("role") == "status"
        assert status.get_attribute("aria-live") == "polite"

        for query in ("新华 电器", "电器　新华"):  # any order, any space (also U+3000)
            box.fill(query)
            expect(status).to_have_text("找到 1 条。")
            expect(hits).to_have_count(1)
            expect(hits.first).to_contain_text(NAMES[3])
            expect(hits.first).to_contain_text(codes[3])

        box.fill("新华")
        expect(status).to_have_text("找到 2 条。")

        box.fill(lettered.lower())  # a credit code typed in lower case
        expect(status).to_have_text("找到 1 条。")
        expect(hits.first).to_contain_text(lettered)

        for typed in (_full_width(codes[3]), _full_width(lettered.lower())):  # full-width
            box.fill(typed)
            expect(status).to_have_text("找到 1 条。")
        box.fill("(集团)")  # half-width brackets find the name's full-width ones
        expect(status).to_have_text("找到 1 条。")
        expect(hits.first).to_contain_text(NAMES[4])

        box.fill("华新 书店")
        expect(status).to_contain_text("未找到")
        expect(hits).to_have_count(0)

        box.fill("有限公司")
        expect(status).to_have_text(
            f"共找到 {DRAWN} 条，仅显示前 {SEARCH_LIMIT} 条；请输入更多的词缩小范围。"
        )
        expect(hits).to_have_count(SEARCH_LIMIT)


@pytest.mark.slow
def test_without_javascript_the_page_says_where_to_look(site: tuple[str, list[str]]) -> None:
    url, _ = site
    with headless() as browser:
        page = phone(browser).new_page()
        page.goto(url)
        text = page.locator("main").inner_text()
        assert "本页的即时查询需要浏览器启用 JavaScript" in text
        assert "页内查找" in text
        expect(page.locator("#q")).to_be_hidden()  # no box that would do nothing
        expect(page.locator('main a[href="data/results.csv"]')).to_be_visible()
        expect(page.locator(f'main a[href="rounds/{KEY}/index.html"]')).to_be_visible()


@pytest.mark.slow
def test_hostile_queries_are_said_plainly(site: tuple[str, list[str]], tmp_path: Path) -> None:
    """A pasted page (100,000 characters) or a query of thousands of words is said to be too
    long or of too many words, not echoed back whole in the live region nor run against every
    enterprise; markup, a NUL, ``../`` and mixed scripts are text that finds nothing, and the
    page still fits the phone's width."""
    from tests.website.test_phone import _measure

    url, codes = site
    with headless() as browser:
        page = phone(browser, javascript=True).new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        box, status, hits = page.locator("#q"), page.locator("#status"), page.locator("#hits li")
        expect(box).to_be_visible()

        box.fill("新" * 100_000)
        expect(status).to_have_text("查询内容太长（100000 个字符），请最多输入 100 个字符。")
        expect(hits).to_have_count(0)
        box.fill(" ".join(["9"] * 3000)[:99])  # 50 words within the length
        expect(status).to_have_text("查询的词太多（50 个），请最多输入 20 个词。")
        box.fill(" ".join(["有限"] * 20))  # 20 words: searched
        expect(status).to_contain_text(f"共找到 {DRAWN} 条")

        for query in ('<img src=x onerror="alert(1)">', "</script><script>alert(2)</script>",
                      "../../data\x00", "ｆｏｏ／．．／\u202e新华", "新华 مرحبا שלום"):  # fmt: skip
            box.fill(query)
            expect(status).to_contain_text("未找到")
            expect(hits).to_have_count(0)
        assert page.locator("#hits img, #hits script").count() == 0 and dialogs == []
        _measure(page, tmp_path / "search-hostile.png", times=False)
        box.fill(codes[3])  # and a plain query still finds
        expect(status).to_have_text("找到 1 条。")


def test_a_query_pasted_with_invisible_characters_finds_and_reads_plainly(
    site: tuple[str, list[str]],
) -> None:
    """A credit code copied from a chat message or a document comes with a zero-width space or a
    direction mark inside it, which no name or code of the registry holds (its import refuses
    them): the code was not found, and a right-to-left override echoed back in the live region
    turned the rest of its sentence around (“…含有“‮新华”的企业。” shown backwards). Now the
    page drops them from the query, as it drops nothing else: the firm is found, and no such
    character reaches the status."""
    url, codes = site
    code = codes[3]
    with headless() as browser:
        page = phone(browser, javascript=True).new_page()
        page.goto(url)
        box, status, hits = page.locator("#q"), page.locator("#status"), page.locator("#hits li")
        expect(box).to_be_visible()
        for pasted in (f"\u200b{code[:9]}\u200d{code[9:]}\ufeff", f"\u202a{code}\u202c",
                       f"\u2066{code[:4]}\u200e{code[4:]}\u2069"):  # fmt: skip
            box.fill(pasted)
            expect(status).to_have_text("找到 1 条。")
            expect(hits.first).to_contain_text(code)
        box.fill("\u202e新华 书店X")
        expect(status).to_have_text("未找到名称或信用代码含有“新华”“书店X”的企业。")
        box.fill("新华\u2028书店")  # a line separator (from Word or a PDF) parts words
        expect(status).to_have_text("找到 1 条。")


@pytest.mark.slow
def test_the_counts_said_are_of_what_was_typed(site: tuple[str, list[str]]) -> None:
    """The limits of 100 characters and 20 words count what the citizen typed: one character
    NFKC writes as four words (ﷺ) typed thirty times, with no space, was said to be 查询的词太多
    (91 个); one that takes two of JavaScript's units (𠀀, a rare character of a name) made 60
    typed 查询内容太长（120 个字符）. Now each is a word, a character, as typed."""
    url, _ = site
    with headless() as browser:
        page = phone(browser, javascript=True).new_page()
        page.goto(url)
        box, status = page.locator("#q"), page.locator("#status")
        expect(box).to_be_visible()
        for typed in ("\ufdfa" * 30, "\u00a8" * 30, "\U00020000" * 60, "\ufdfa " * 20):
            box.fill(typed)
            expect(status).to_contain_text("未找到")
        box.fill("\U00020000" * 101)
        expect(status).to_have_text("查询内容太长（101 个字符），请最多输入 100 个字符。")
        box.fill("\ufdfa " * 21)
        expect(status).to_have_text("查询的词太多（21 个），请最多输入 20 个词。")
        box.fill("\ufb01" * 30)  # a ligature folds to the letters it joins (ﬁ is FI)
        expect(status).to_have_text("未找到名称或信用代码含有“" + "\ufb01" * 30 + "”的企业。")
        box.fill("\ufdfa" * 100)  # said back as typed: 100 characters, not NFKC's 1,800
        expect(status).to_have_text("未找到名称或信用代码含有“" + "\ufdfa" * 100 + "”的企业。")
