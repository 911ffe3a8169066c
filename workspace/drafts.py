"""Drafts of a finding, kept on the server: a dropped connection on a factory floor loses
nothing the server received.

One draft per (round, enterprise, inspector), a small JSON file under
``$SHUANGSUI_HOME/workspace-drafts/`` named by the SHA-256 of the three keys (length-prefixed),
written atomically and durably (:func:`shuangsui.files.write_private`: fsync, then rename).
A draft file that cannot be read (empty or cut short, as a power cut could leave one) counts
as no draft, with a warning, and the next save replaces it. Drafts live beside the evidence
files they name; they are working notes, not records: the record is the submitted version.
Two saves of one draft at once (two tabs, a double tap) take turns on the draft's lock
(:func:`locked`), so the second adds its files to the first's instead of dropping them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shuangsui.files import file_lock, write_private
from shuangsui.paths import inside

logger = logging.getLogger(__name__)


def _name(round_key: str, credit_code: str, inspector_id: str) -> str:
    h = hashlib.sha256()
    for field in ("shuangsui-draft-v1", round_key, credit_code, inspector_id):
        data = field.encode("utf-8")
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest() + ".json"


def drafts_dir(home: Path) -> Path:
    return home / "workspace-drafts"


def load(home: Path, round_key: str, credit_code: str, inspector_id: str) -> dict[str, Any]:
    path = inside(drafts_dir(home), _name(round_key, credit_code, inspector_id))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:  # not UTF-8 or not JSON: a file a crash cut short
        logger.warning("draft %s cannot be read, treated as no draft: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


@contextmanager
def locked(home: Path, round_key: str, credit_code: str, inspector_id: str) -> Iterator[None]:
    """Hold the lock of one draft (blocking: call it off the event loop), for a read, change
    and save of it that no other save of the same draft may come between."""
    folder = drafts_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    name = _name(round_key, credit_code, inspector_id).removesuffix(".json") + ".lock"
    with file_lock(inside(folder, name)):
        yield


def save(
    home: Path, round_key: str, credit_code: str, inspector_id: str, draft: dict[str, Any]
) -> None:
    folder = drafts_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    path = inside(folder, _name(round_key, credit_code, inspector_id))
    write_private(path, json.dumps(draft, ensure_ascii=False, sort_keys=True).encode("utf-8"))


def discard(home: Path, round_key: str, credit_code: str, inspector_id: str) -> None:
    inside(drafts_dir(home), _name(round_key, credit_code, inspector_id)).unlink(missing_ok=True)
