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

BOM = "\ufeff".encode()


def _run(command: str, folder: Path) -> str:
    """``command`` as the page prints it, ``python3`` being this Python; what it printed, one
    line, nothing on stderr (no traceback), its exit status 0 for OK and 1 for FAIL."""
    argv = shlex.split(command)
    assert argv[:3] == ["python3", "-I", "-S"], argv
    run = subprocess.run([sys.executable, *argv[1:]], cwd=folder, capture_output=True,
                         text=True, check=False)  # fmt: skip
    assert run.stderr == "", run.stderr
    (line,) = run.stdout.splitlines()
    assert run.returncode == (0 if line.startswith("OK: ") else 1), (run.returncode, line)
    assert line.startswith(("OK: ", "FAIL: ")), line
    return line


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

    # the CSV's header line edited, or the file saved again by a spreadsheet: one FAIL line
    # naming what is wrong (it was a traceback: KeyError: 'credit_code', UnicodeDecodeError)
    head, rows = lines[0].removeprefix(BOM), lines[1:]
    published = head.decode()
    columns = published.split(",")
    others = ",".join(c for c in columns if c != "measures")
    edited = {
        head.replace(b"credit_code", b"code"): "missing credit_code: not published ['code']",
        others.encode(): "missing measures",
        head + b",extra": "not published ['extra']",
        ",".join(columns[1:] + columns[:1]).encode(): "its columns are in another order",
        BOM + head: "missing round_key: not published ['\\ufeffround_key']",
        "轮次".encode() + head.removeprefix(b"round_key"): "missing round_key: not published "
        "['\\u8f6e\\u6b21']",
    }
    for header, said in edited.items():
        (folder / csv_path.name).write_bytes(BOM + b"\r\n".join([header, *rows]))
        expected = f"FAIL: the header of {csv_path.name} is not the published one: {said}: "
        assert _run(command, folder) == f"{expected}it should read {published}", header
    for data, said in [
        (b"", "is empty"),
        (BOM, "is empty"),
        (b"\r\n".join(lines).decode().encode("utf-16"), "is not UTF-8 text"),  # Unicode text
        (b"\r\n".join(lines).decode()[1:].encode("gbk", "replace"), "is not UTF-8 text"),
    ]:
        (folder / csv_path.name).write_bytes(data)
        assert _run(command, folder).startswith(f"FAIL: {csv_path.name} {said}"), data[:40]
    short = b",".join(lines[2].split(b",")[:5])
    (folder / csv_path.name).write_bytes(b"\r\n".join([*lines[:2], short, *lines[3:]]))
    said = f"FAIL: row 3 of {csv_path.name} has 5 columns, the header {len(columns)}"
    assert _run(command, folder) == said
    (folder / csv_path.name).unlink()
    assert _run(command, folder) == f"FAIL: no file {csv_path.name} in this folder"
