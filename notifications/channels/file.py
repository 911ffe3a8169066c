"""The file outbox: one ``.eml`` or ``.json`` per message under ``$SHUANGSUI_HOME/outbox/``.

Files are named by idempotency key and written atomically, so a repeat overwrites its first copy.
A message carries an inspector's link (a bearer token): the folder is 0700, each file 0600.
"""

from __future__ import annotations

from pathlib import Path

from shuangsui.files import private_dir, write_private
from shuangsui.paths import inside


class FileChannel:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        private_dir(directory)

    def write(self, key: str, suffix: str, data: bytes) -> Path:
        return write_private(inside(self.directory, f"{key}{suffix}"), data)  # the key is data
