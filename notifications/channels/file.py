"""The file outbox: one ``.eml`` or ``.json`` per message under ``$SHUANGSUI_HOME/outbox/``.

Files are named by idempotency key and written atomically, so a repeat overwrites its first copy.
"""

from __future__ import annotations

import os
from pathlib import Path

from shuangsui.paths import inside


class FileChannel:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def write(self, key: str, suffix: str, data: bytes) -> Path:
        path = inside(self.directory, f"{key}{suffix}")  # the key is data: keep it in here
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        return path
