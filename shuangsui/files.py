"""File modes: the data directory is the bureau's alone, the public site is everyone's.

``shuangsui`` commands run with umask 077 (see ``shuangsui.cli``), so the data directory
(``SHUANGSUI_HOME``) is created 0700 and the files written in it (the SQLite database and its
-wal/-shm files, bundles, evidence, keys) 0600. Code that may run outside the CLI (a Prefect
worker) and writes secrets, such as the file outbox whose messages carry inspectors' links,
sets the modes itself with :func:`private_dir` and :func:`write_private`. Only the public site
(``publish --out``) is written world-readable, under :func:`public_umask`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_UMASK = 0o077
PUBLIC_UMASK = 0o022


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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is not applied to a file left over by a crash
        with os.fdopen(fd, "wb") as fh:
            fd = -1
            fh.write(data)
    finally:
        if fd != -1:
            os.close(fd)
    os.replace(tmp, path)
    return path


@contextmanager
def public_umask() -> Iterator[None]:
    """Within: new files and directories are world-readable (for the public site)."""
    old = os.umask(PUBLIC_UMASK)
    try:
        yield
    finally:
        os.umask(old)
