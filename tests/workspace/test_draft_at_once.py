"""Two tabs of one inspector saving the draft at once, each with a photo of the same name: the
draft ends with both photos, neither dropped.

The interleaving is forced: the first save is held once it has read the draft, and let go only
once the second has come to the draft (its lock) or, without a lock, saved it already."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from shuangsui import files
from shuangsui.config import get_settings
from tests.findings.factories import ROUND
from tests.workspace.helpers import PNG, csrf_of, open_assignment
from workspace import drafts, inspector

SECOND_PNG = PNG + b"\0"  # other bytes, still a PNG by its signature


def test_two_tabs_saving_photos_at_once_keep_both(
    live: tuple[str, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, teams = live
    code, team = sorted(teams.items())[0]
    me = team[0]
    held, go_on, reached = threading.Event(), threading.Event(), threading.Event()
    armed = threading.Event()  # the next draft read is the first tab's: hold it
    real_current, real_flock = inspector.current_draft, files.fcntl.flock

    def current_draft(request: Any, visitor: Any, *prefer: bool) -> dict[str, Any]:
        found = real_current(request, visitor, *prefer)
        if armed.is_set():
            armed.clear()
            held.set()
            assert go_on.wait(60)
        return found

    def flock(fd: Any, operation: int) -> None:
        if held.is_set() and not go_on.is_set():  # someone else came to a lock meanwhile
            reached.set()
        real_flock(fd, operation)

    monkeypatch.setattr(inspector, "current_draft", current_draft)
    monkeypatch.setattr(files.fcntl, "flock", flock)

    with httpx.Client(base_url=base, timeout=60) as http:
        path, html = open_assignment(http, base, code, me)
        form = {"csrf": csrf_of(html), "result": "未发现问题", "check_date": "2026-12-10",
                "action": "draft"}  # fmt: skip
        responses: dict[str, httpx.Response | BaseException] = {}

        def save(tab: str, photo: bytes) -> None:
            try:
                responses[tab] = http.post(
                    path,
                    data={**form, "description": tab},
                    files={"photo": ("现场.png", photo, "image/png")},
                )
            except BaseException as exc:  # the test reports it
                responses[tab] = exc

        armed.set()
        first = threading.Thread(target=save, args=("first", PNG))
        first.start()
        try:
            assert held.wait(60), f"the first tab never read the draft: {responses}"
            second = threading.Thread(target=save, args=("second", SECOND_PNG))
            second.start()
            while not reached.is_set() and second.is_alive():
                second.join(0.05)  # the second waits on the draft's lock, or has saved
        finally:
            go_on.set()
            first.join(60)
        second.join(60)

    assert {tab: getattr(r, "status_code", r) for tab, r in responses.items()} == {
        "first": 303,
        "second": 303,
    }
    draft = drafts.load(Path(get_settings().home), ROUND, code, me)
    assert sorted(e["filename"] for e in draft["evidence"]) == ["现场.png", "现场.png"]
    assert len({e["sha256"] for e in draft["evidence"]}) == 2
