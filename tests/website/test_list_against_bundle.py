"""An outsider checks, with what the round page says alone, that the list of drawn enterprises
the site publishes is the list the bundle proves: verify.py checks the bundle's
``selection.json`` against the seed, and nothing had the reader compare it with the page's
list or ``data/<round>.csv`` (a firm left off the site's list went unnoticed), while the page
said the check showed 公布的结果没有改动. Now its step 5 gives one command of Python's standard
library, run where the bundle was verified with the round's CSV beside it: ``OK: the same N
enterprises``, or ``FAIL`` naming each code in one list only. Followed literally: the page read
in headless Chromium at 390 px with JavaScript off (screenshot in ``tmp_path``), the files its
links name copied into a new, empty folder, its commands run as printed."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import sqlalchemy as sa

from tests.browser import headless, phone
from tests.findings.factories import ROUND
from tests.website.test_phone import _measure, publish_realistic_site, run_in


def _run(command: str, folder: Path) -> str:
    """``command`` as the page prints it, ``python3`` being this Python; its last line."""
    argv = shlex.split(command)
    assert argv[:3] == ["python3", "-I", "-S"], argv
    run = subprocess.run([sys.executable, *argv[1:]], cwd=folder, capture_output=True,
                         text=True, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return run.stdout.strip().splitlines()[-1]


def test_the_sites_list_is_checked_against_the_bundle(engine: sa.Engine, tmp_path: Path) -> None:
    out = tmp_path / "site"
    publish_realistic_site(engine, out)
    round_page = (out / "rounds" / ROUND / "index.html").resolve().as_uri()
    with headless() as browser:
        page = phone(browser).new_page()
        page.goto(round_page)
        step = page.locator("#verify ol.steps > li").nth(4)
        links = step.locator("a").evaluate_all("a => a.map(x => x.getAttribute('href'))")
        command = step.locator("pre code").inner_text()
        said = step.inner_text()
        files = page.locator("#verify ul.files a").evaluate_all(
            "a => a.map(x => x.getAttribute('href'))"
        )
        _measure(page, tmp_path / "round-steps.png", times=False)
    shown = len((out / "data" / f"{ROUND}.csv").read_bytes().splitlines()) - 1
    assert f"OK: the same {shown} enterprises" in said
    assert "Windows 上同样把 python3 换成 py" in said  # as step 2 says of verify.py

    folder = tmp_path / "downloaded"  # steps 1 to 3: the bundle, verified
    folder.mkdir()
    for href in [*files, "commitment.json"]:
        shutil.copy(out / "rounds" / ROUND / href, folder)
    assert run_in(folder).returncode == 0
    (csv_link,) = links  # step 5: the round's CSV beside it, the command as printed
    csv_path = Path(urlsplit(urljoin(round_page, csv_link)).path)
    shutil.copy(csv_path, folder)
    assert _run(command, folder) == f"OK: the same {shown} enterprises"

    lines = csv_path.read_bytes().split(b"\r\n")  # a firm left off the site's list
    dropped = lines[3].split(b",")[2].decode()
    (folder / csv_path.name).write_bytes(b"\r\n".join(lines[:3] + lines[4:]))
    assert _run(command, folder) == f"FAIL: not in both: {dropped}"

    # a firm listed twice (its row copied): the same codes, and the check said OK: the same N
    # enterprises of a list of N + 1 rows, where the page says 不多也不少
    twice = lines[:4] + lines[3:]
    (folder / csv_path.name).write_bytes(b"\r\n".join(twice))
    assert _run(command, folder) == f"FAIL: listed more than once: {dropped}"
