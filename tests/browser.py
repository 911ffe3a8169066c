"""Headless Chromium for the tests of pages: the system's own browser (Debian's ``chromium``;
``playwright install`` is never run), driven by Playwright or run as a command, at a phone's
size.

Where Chromium is missing a test that needs it is skipped, or fails under
``SHUANGSUI_REQUIRE_CHROMIUM=1`` (CI), so that a browser test cannot pass by not running.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, BrowserContext, ViewportSize, sync_playwright

PHONE: ViewportSize = {"width": 390, "height": 844}
# on the PATH under either of its names, or where Debian's package puts it
NAMES = ("chromium", "chromium-browser", "/usr/bin/chromium")


def chromium() -> str:
    """The system Chromium's executable; else the test skips, or fails if it is required."""
    for name in NAMES:
        if found := shutil.which(name):
            return found
    if os.environ.get("SHUANGSUI_REQUIRE_CHROMIUM") == "1":
        pytest.fail("SHUANGSUI_REQUIRE_CHROMIUM=1 but chromium is not installed")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def command(*flags: str) -> list[str]:
    """Chromium as a headless command line with ``flags`` (``--dump-dom``, ``--screenshot``)."""
    return [chromium(), "--headless", "--no-sandbox", "--disable-gpu", *flags]


@contextmanager
def headless() -> Iterator[Browser]:
    """The system Chromium under Playwright, headless, closed on the way out."""
    executable = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def phone(browser: Browser, *, javascript: bool = False) -> BrowserContext:
    """A fresh context as a phone in China shows pages: 390×844, zh-CN, JavaScript off unless
    ``javascript``."""
    return browser.new_context(viewport=PHONE, java_script_enabled=javascript, locale="zh-CN")
