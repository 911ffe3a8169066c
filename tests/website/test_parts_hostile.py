"""What stands at a round's ``.parts`` file in place of the one the last publish wrote: a FIFO
made every publish (and ``--check-files``, which checks the listed pages, not the parts) wait
for ever; a symlink out of the site failed every run with the path refusal meant for names from
data; a symlink to ``/dev/zero`` would have been read without end. Each is now taken as a part
not the one listed: the round read again and its part written in its place."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from shuangsui.errors import IntegrityError
from tests.findings.factories import ROUND, final_finding
from tests.website.test_incremental import NEXT, Site, _tree, _two_rounds
from tests.website.test_publish_refusal import _refusal, _rewrite
from website.output import PublishReport
from website.site import publish


def _within_a_minute(run_publish: Callable[[], PublishReport], fifo: Path) -> PublishReport:
    """The publish's report, or the test failed if it waited a minute (on ``fifo``, if one is
    there: then let go, so the test ends) or raised."""
    done: list[PublishReport | Exception] = []

    def go() -> None:
        try:
            done.append(run_publish())
        except Exception as exc:  # shown by the assertion below
            done.append(exc)

    run = threading.Thread(target=go, daemon=True)
    run.start()
    run.join(60)
    if run.is_alive():
        if fifo.exists() and not fifo.is_file():
            with open(fifo, "wb"):
                pass
        pytest.fail(f"the publish waited on what stands at {fifo.name}")
    (report,) = done
    assert isinstance(report, PublishReport), report
    return report


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

    report = _within_a_minute(lambda: publish(engine, site.out, check_files=check_files), part)
    assert report.reread == [ROUND] and report.newly_published == 1
    assert part.is_file() and not part.is_symlink()
    clean = tmp_path / "clean"
    publish(engine, clean)
    assert _tree(site.out) == _tree(clean)  # exactly what a publish into an empty folder makes
    assert outside.read_bytes().startswith(b'{"divisions"')  # never written through the link
    assert publish(engine, site.out).reread == []  # and the part is used again


@pytest.mark.parametrize(
    "state",
    [{"findings": ["x", None]}, {"findings": [1]}, {"findings": [-1, 2]}, {"results": "many"},
     "fifo"],
)  # fmt: skip
def test_a_publish_state_no_publish_wrote_counts_as_absent(
    engine: sa.Engine, tmp_path: Path, state: dict | str
) -> None:
    """``.publish-state.json`` edited to hold what no publish writes made every publish fail
    for good with a raw error from deep inside (SQLAlchemy's ``ArgumentError`` for the ids, a
    ``ValueError`` for the count), and a FIFO there made it wait for ever; a state that cannot
    be read counts as absent: everything is published again, and a rewritten result is still
    refused."""
    teams, codes = _two_rounds(engine)
    final_finding(engine, codes[1], teams[codes[1]])
    site = Site(engine, tmp_path)
    site.publish()
    path = site.out / ".publish-state.json"
    if state == "fifo":
        path.unlink()
        os.mkfifo(path)
    else:
        path.write_text(json.dumps(json.loads(path.read_bytes()) | dict(state)))
    final_finding(engine, codes[0], teams[codes[0]], result="other", reason="更正")

    report = _within_a_minute(site.publish, path)  # compared with one into an empty folder
    assert report.reread == [ROUND, NEXT] and report.newly_published == 1
    _rewrite(engine, codes[1], result="other")  # beside the next correction: still refused
    final_finding(engine, codes[0], teams[codes[0]], result="unreachable", reason="再更正")
    with pytest.raises(IntegrityError) as refused:
        publish(engine, site.out)
    assert _refusal(codes[1]) in str(refused.value)
