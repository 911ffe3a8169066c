"""Files that others read (the public site, open data, bundles, exports, keys), written so a
kill at any instant leaves either the old file or the new one, never a piece.

Every such file goes through :func:`atomic_writer` (or :func:`write_atomic`): the bytes go to a
temporary file named ``.tmp-shuangsui-*`` in the target's own folder, are flushed to disk
(fsync), renamed over the target (``os.replace``, atomic on POSIX) and the folder is synced so
the rename itself survives a power cut. A killed run can leave only such temporary files; each
writer calls :func:`remove_leftovers` on its output folder before it starts, holding the
folder's :func:`writer_lock`: two writers of one folder at once would take each other's
temporary files for leftovers (and each rewrite the other's manifest), so the second waits,
and says once which folder it waits for (a command that waits silently looks hung).

``SHUANGSUI_TEST_KILL_AT`` is a test hook (see :func:`kill_point`): the crash tests set it to a
named point and the process kills itself there with SIGKILL, as ``kill -9`` would.

File modes: the data directory is the bureau's alone, the public site is everyone's.
``shuangsui`` commands run with umask 077 (see ``shuangsui.cli``), so the data directory
(``SHUANGSUI_HOME``) is created 0700 and the files written in it (the SQLite database and its
-wal/-shm files, bundles, evidence, keys) 0600. Code that may run outside the CLI (a Prefect
worker) and writes secrets, such as the file outbox whose messages carry inspectors' links,
sets the modes itself with :func:`private_dir` and :func:`write_private`. Only the public site
(``publish --out``) is written world-readable, under :func:`public_umask`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
PUBLIC_UMASK = 0o022

TMP_PREFIX = ".tmp-shuangsui-"
# what earlier versions left: mkstemp(prefix=".tmp-") names (8 random characters)
_LEGACY_TMP = re.compile(r"\.tmp-[a-z0-9_]{8}")
KILL_ENV = "SHUANGSUI_TEST_KILL_AT"


def kill_point(name: str, detail: str = "") -> None:
    """Kill this process (SIGKILL) when ``SHUANGSUI_TEST_KILL_AT`` names this point: ``name``
    alone, or ``name:detail`` (for instance ``before-rename:index.html``). For crash tests only;
    unset in any real run, where this is one dictionary lookup."""
    wanted = os.environ.get(KILL_ENV)
    if wanted and wanted in (name, f"{name}:{detail}"):
        logger.warning("test hook %s=%s: killing this process", KILL_ENV, wanted)
        os.kill(os.getpid(), signal.SIGKILL)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_writer(
    path: Path, mode: int = 0o644, *, exclusive: bool = False, sync_folder: bool = True
) -> Iterator[BinaryIO]:
    """A binary file handle whose content becomes ``path`` when the block ends without error.

    ``exclusive``: the target must not exist yet (``FileExistsError`` otherwise, the temporary
    file removed); two processes creating the same file cannot overwrite each other's.
    ``sync_folder=False``: the caller syncs the folder itself (:func:`fsync_dir`), once for
    many files, before anything relies on the rename having reached the disk (the file's own
    bytes are synced before the rename either way: a power cut leaves the old file or the new).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        kill_point("before-rename", path.name)
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if sync_folder:
        fsync_dir(path.parent)


def write_atomic(
    path: Path,
    data: bytes | Iterable[bytes | memoryview],
    mode: int = 0o644,
    *,
    exclusive: bool = False,
    sync_folder: bool = True,
) -> None:
    """Replace ``path`` with ``data`` atomically (see the module text). ``data`` may come in
    pieces (a frame of millions of lines is never held whole). ``sync_folder``: as for
    :func:`atomic_writer`."""
    with atomic_writer(path, mode, exclusive=exclusive, sync_folder=sync_folder) as fh:
        if not isinstance(data, bytes):
            for n, piece in enumerate(data):
                fh.write(piece)
                if n == 0:
                    fh.flush()
                    kill_point("mid-write", Path(path).name)
        elif len(data) > 1:
            view = memoryview(data)  # its halves written without a copy of either
            fh.write(view[: len(data) // 2])
            fh.flush()
            kill_point("mid-write", Path(path).name)
            fh.write(view[len(data) // 2 :])
        else:
            fh.write(data)


@contextmanager
def file_lock(path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (a file, made empty if missing, or a folder)
    until the block ends or the process dies; another holder, in this process or another,
    waits its turn. ``on_wait``: called once, before waiting, when another holds the lock."""
    flags = os.O_RDONLY if path.is_dir() else os.O_RDWR | os.O_CREAT
    fd = os.open(path, flags, 0o644)
    try:
        if on_wait is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        else:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                on_wait()
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def writer_lock(directory: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold ``directory``'s writer lock: one writer of the folder at a time, the others wait
    their turn. The lock is the folder's own (``flock`` on the folder itself), so it leaves no
    file in what is published or bundled. The folder is made if missing.

    A writer that has to wait says so once, before waiting: ``on_wait`` if given, else one
    warning in this module's log naming the folder (the ``shuangsui`` command writes warnings
    to stderr, so its operator reads it; a Prefect run shows it in its worker's output)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with file_lock(directory, on_wait=on_wait or (lambda: _waiting_for(directory))):
        yield


def _waiting_for(directory: Path) -> None:
    logger.warning(
        "folder %s: another run is writing it (it holds the folder's writer lock); "
        "waiting for it to end",
        directory,
    )


def remove_leftovers(directory: Path) -> int:
    """Delete the temporary files a killed writer left under ``directory``, and nothing a
    person put there (``publish --out`` may be given a folder that holds other files).

    A temporary file lies beside its target, so in the folder or one of the subfolders a
    writer writes: a ``.tmp-shuangsui-`` name is ours wherever it lies (no other program
    makes it). The ``.tmp-XXXXXXXX`` names earlier versions used are the names any program's
    ``mkstemp(prefix=".tmp-")`` makes: only those directly in ``directory`` are taken for
    ours (a person's ``sub/.tmp-abcd1234`` was deleted). Returns how many were removed."""
    directory = Path(directory)
    if not directory.is_dir():
        return 0
    removed = 0
    for root, _dirs, names in os.walk(directory):
        for name in names:
            if _leftover(name, top=Path(root) == directory):
                Path(root, name).unlink(missing_ok=True)
                removed += 1
    if removed:
        logger.warning("removed %d partial file(s) a killed run left in %s", removed, directory)
    return removed


def _leftover(name: str, *, top: bool) -> bool:
    """A temporary file's name as our writers make it (``top``: in the writer's own folder,
    where an earlier version's ``.tmp-XXXXXXXX`` names are ours too)."""
    return name.startswith(TMP_PREFIX) or (top and _LEGACY_TMP.fullmatch(name) is not None)


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents; every directory this makes is 0700."""
    missing = []
    here = path
    while not here.exists():
        missing.append(here)
        here = here.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)  # mkdir's mode passes through the umask
    return path


def write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, readable by its owner only (0600)."""
    write_atomic(path, data, mode=0o600)
    return path


@contextmanager
def public_umask() -> Iterator[None]:
    """Within: new files and directories are world-readable (for the public site)."""
    old = os.umask(PUBLIC_UMASK)
    try:
        yield
    finally:
        os.umask(old)
