"""The file outbox: one ``.eml`` or ``.json`` per message under ``$SHUANGSUI_HOME/outbox/``.

Files are named by idempotency key and written atomically, so a repeat overwrites its first copy.
"""

from __future__ import annotations

from pathlib import Path

from shuangsui.files import write_atomic


class FileChannel:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def write(self, key: str, suffix: str, data: bytes) -> Path:
        path = self.directory / f"{key}{suffix}"
        write_atomic(path, data)
        return path
