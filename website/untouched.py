"""A publish refused part way takes back the files and folders it made.

A publish writes a round's commitment before it renders the rounds, and each round's files
before the pages that span every round; a refusal found only on the way (a folder standing
where it writes a file, findings written while it read them, each time) left those files
behind: on a brand-new site, commitment pages linking to an index.html and a site.css never
written, and on a site published before, a new round's commitment page linking to the round
page it never wrote. Every file and folder in the site folder that was not there when the
publish began is removed again, so a brand-new site is left as it was found (its folder, made
to hold the writer lock, stays, empty) and a published one holds no page of a round it never
finished. A file the publish wrote over stays as written (its manifest still lists the bytes
it replaced, which the next publish checks it against).

A refusal raised once the publish has written its files and the manifest that lists them (as
with a commitment differing from the one published, or a failure while it records what it
published) takes nothing back: that site is whole, and what was recorded is on it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from website.output import MANIFEST

logger = logging.getLogger(__name__)


def _held(out: Path) -> tuple[set[str], set[str]]:
    """The files and the folders under ``out`` (links not followed), relative to it."""
    files: set[str] = set()
    folders: set[str] = set()
    for top, dirs, names in os.walk(out):
        here = Path(top).relative_to(out)
        folders.update((here / d).as_posix() for d in dirs)
        files.update((here / n).as_posix() for n in names)
    return files, folders


def _manifest(out: Path) -> tuple[int, int, int] | None:
    """Which manifest the site has (each is written anew, then renamed into place)."""
    try:
        st = (out / MANIFEST).stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


@contextmanager
def taken_back_if_refused(out: Path) -> Iterator[None]:
    """Run a publish into ``out`` (its writer lock held); if it raises before it finished
    writing, remove what it added to the folder, and raise as it did."""
    files, folders = _held(out)
    manifest = _manifest(out)
    try:
        yield
    except BaseException:
        if _manifest(out) == manifest:  # its files not all written: what it added goes
            _take_back(out, files, folders)
        raise


def _take_back(out: Path, files: set[str], folders: set[str]) -> None:
    now_files, now_folders = _held(out)
    added = sorted(now_files - files)
    for rel in added:
        (out / rel).unlink(missing_ok=True)
    for rel in sorted(now_folders - folders, key=lambda r: r.count("/"), reverse=True):
        try:
            (out / rel).rmdir()
        except OSError:  # not empty: something not ours is in it (never the case)
            logger.warning("publish refused: folder %s/%s left, not empty", out.name, rel)
    if added:
        logger.warning(
            "publish refused: the %d file(s) it had added to %s taken back", len(added), out
        )
