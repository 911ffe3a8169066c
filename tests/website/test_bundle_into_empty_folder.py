"""The round page has the reader download the bundle into a new, empty folder, and says that
verify.py names a file it does not expect (docs/draw-algorithm.md §10): a folder that already
held something (last month's bundle, notes) used to be fine, and now fails on its first
unexpected file. Followed as written, on a drawn and on a failed round: the files downloaded
into an empty folder with commitment.json verify; one file more is named on the last line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from rounds import service
from shuangsui.errors import InfeasibleDraw
from tests.findings.factories import ROUND
from tests.rounds.factories import plan_yaml, seed_registry
from tests.website.test_phone import run_in
from website.site import publish

SAYS = (
    "下载到一个新建的空文件夹，不要改名",
    "文件夹中不要放其他文件：verify.py 遇到它不认识的文件，会在最后一行报 FAIL 并写出这个文件名。",
)


def _publish(engine: sa.Engine, out: Path, outcome: str) -> Path:
    """A round ``outcome`` (drawn, or failed: four to a team from three inspectors),
    published into ``out``; the round's folder on the site."""
    seed_registry(engine, inspectors=12 if outcome == "drawn" else 3)
    service.commit_round(engine=engine, plan_text=plan_yaml(size=2 if outcome == "drawn" else 4))
    entropy = service.EntropyInput(witness_digits="3141592653589793238462643", witnesses=("张三",))
    try:
        service.draw_round(engine=engine, round_key=ROUND, entropy=entropy)
    except InfeasibleDraw:
        assert outcome == "failed"
    publish(engine, out)
    return out / "rounds" / ROUND


@pytest.mark.parametrize("outcome", ["drawn", "failed"])
def test_the_page_says_a_new_empty_folder_and_is_right(
    engine: sa.Engine, tmp_path: Path, outcome: str
) -> None:
    folder = _publish(engine, tmp_path / "site", outcome)
    page = (folder / "index.html").read_text("utf-8")
    steps = page.split('id="verify"')[1]
    for said in SAYS:
        assert said in steps, said
    assert "同一个文件夹" not in steps

    downloaded = tmp_path / "downloaded"  # new and empty, as the page says
    downloaded.mkdir()
    manifest = (folder / "bundle" / "MANIFEST.sha256").read_text("utf-8")
    for name in [line.split("  ")[1] for line in manifest.splitlines()] + ["MANIFEST.sha256"]:
        shutil.copy(folder / "bundle" / name, downloaded / name)
    shutil.copy(folder / "commitment.json", downloaded)  # its download, beside the bundle
    run = run_in(downloaded)
    assert run.returncode == 0, run.stdout + run.stderr

    (downloaded / "notes.txt").write_text("上个月的笔记", encoding="utf-8")
    run = run_in(downloaded)
    assert run.returncode == 1
    assert run.stdout.splitlines()[-1] == (
        "FAIL: MANIFEST.sha256: notes.txt is in the bundle but not listed"
    )
