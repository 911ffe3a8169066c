"""What stands at a round's ``.parts`` file in place of the one the last publish wrote: a FIFO
made every publish (and ``--check-files``, which checks the listed pages, not the parts) wait
for ever; a symlink out of the site failed every run with the path refusal meant for names from
data; a symlink to ``/dev/zero`` would have been read without end. Each is now taken as a part
not the one listed: the round read again and its part written in its place."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.findings.factories import ROUND, final_finding
from tests.website.test_incremental import Site, _tree, _two_rounds
from website.output import PublishReport
from website.site import publish


@pytest.mark.parametrize("standing", ["fifo", "link-outside", "link-to-zero"])
@pytest.mark.parametrize("check_files", [False, True])
def test_what_stands_at_a_part_is_never_followed_nor_waited_on(
    engine: sa.Engine, tmp_path: Path, standing: str, check_files: bool
) -> None:
    teams, codes = _two_rounds(engine)
    site = Site(engine, tmp_path)
    site.publish()
    final_finding(engine, codes[0], teams[codes[0]], result="other", reason="更正")
    part = site.out / ".parts" / f"{ROUND}.json"
    outside = tmp_path / "outside.json"
    outside.write_bytes(part.read_bytes())
    part.unlink()
    if standing == "fifo":
        os.mkfifo(part)
    else:
        part.symlink_to(outside if standing == "link-outside" else Path("/dev/zero"))

    done: list[PublishReport | Exception] = []

    def go() -> None:
        try:
            done.append(publish(engine, site.out, check_files=check_files))
        except Exception as exc:  # shown by the assertion below
            done.append(exc)

    run = threading.Thread(target=go, daemon=True)
    run.start()
    run.join(60)
    if run.is_alive():  # let the waiting read go, so the test ends
        with open(part, "wb"):
            pass
        pytest.fail(f"the publish waited on a {standing} at the round's part")
    (report,) = done
    assert isinstance(report, PublishReport), report
    assert report.reread == [ROUND] and report.newly_published == 1
    assert part.is_file() and not part.is_symlink()
    clean = tmp_path / "clean"
    publish(engine, clean)
    assert _tree(site.out) == _tree(clean)  # exactly what a publish into an empty folder makes
    assert outside.read_bytes().startswith(b'{"divisions"')  # never written through the link
    assert publish(engine, site.out).reread == []  # and the part is used again
