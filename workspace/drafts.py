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

A draft saved before the page checked the names of the files it takes may hold one the finding
refuses (a control or invisible character: U+202E, U+200B, NUL) or one with a folder's ``/`` or
``\\``: every 提交 was then refused, and the page has no way to rename or remove a file. Such a
name is read mended (:func:`safe_name`): the file is kept, under the name shown and submitted
from then on; the next save writes it so.

A draft records the version its form was filled in on (:data:`BASE`, 0 before the first). One
filled in on an earlier version than the latest (a teammate or a coordinator submitted since) is
:func:`stale`: the correction form starts from the latest version, and the page offers the draft
instead of putting it in the form (``workspace.inspector``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from findings.state import utc
from shuangsui.files import file_lock, write_private
from shuangsui.paths import inside
from shuangsui.text import CONTROL

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
    if not isinstance(data, dict):
        return {}
    return _mended(data, path)


NAME_MAX = 255  # what the page keeps of a file's name, and the finding takes


def safe_name(filename: str, sha256: str) -> str:
    """A file's name as the finding takes it and the page shows it: without the control and
    invisible characters the page refuses in a new file's name
    (``workspace.attachments.name_refused``), a folder's ``/`` or ``\\`` made ``_``, at most
    255 characters; a name left blank by that is ``文件-`` and the start of its SHA-256 (a
    name sent empty, as the API allows, stays empty)."""
    kept = CONTROL.sub("", filename).replace("/", "_").replace("\\", "_")[:NAME_MAX]
    return kept if kept.strip() or not filename else f"文件-{sha256[:12]}"


def _mended(draft: dict[str, Any], path: Path) -> dict[str, Any]:
    """``draft`` with each file's name that is not :func:`safe_name`'s mended (a draft saved
    by a version that did not check them), the file kept."""
    files = draft.get("evidence")
    if not isinstance(files, list):
        return draft
    mended = []
    for entry in files:
        name, sha = (
            (entry.get("filename"), entry.get("sha256")) if isinstance(entry, dict) else ("", "")
        )
        if isinstance(name, str) and isinstance(sha, str) and name != safe_name(name, sha):
            logger.warning("draft %s: file %s's name %r read as %r", path, sha, name,
                           safe_name(name, sha))  # fmt: skip
            entry = entry | {"filename": safe_name(name, sha)}
        mended.append(entry)
    return draft | {"evidence": mended}


@contextmanager
def locked(home: Path, round_key: str, credit_code: str, inspector_id: str) -> Iterator[None]:
    """Hold the lock of one draft (blocking: call it off the event loop), for a read, change
    and save of it that no other save of the same draft may come between."""
    folder = drafts_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    name = _name(round_key, credit_code, inspector_id).removesuffix(".json") + ".lock"
    with file_lock(inside(folder, name)):
        yield


BASE = "base_version"  # the version the draft's form was filled in on (0: none yet)


def saved_at(home: Path, round_key: str, credit_code: str, inspector_id: str) -> dt.datetime | None:
    """When the draft was last saved (its file's time, UTC); None when there is none."""
    path = inside(drafts_dir(home), _name(round_key, credit_code, inspector_id))
    try:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    except FileNotFoundError:
        return None


def stale(
    draft: dict[str, Any], saved: dt.datetime | None, latest: int, latest_at: dt.datetime
) -> bool:
    """Whether ``draft`` was filled in on an earlier version than the latest (``latest``,
    submitted at ``latest_at``; 0: none yet): by the version it records; a draft saved before
    drafts recorded it, by when it was saved (``saved``)."""
    if not draft or not latest:
        return False
    base = draft.get(BASE)
    if isinstance(base, int) and not isinstance(base, bool):
        return base < latest
    at = latest_at if latest_at.tzinfo else latest_at.replace(tzinfo=dt.UTC)  # stored as UTC
    return saved is not None and saved < at


def before_final(saved: dt.datetime | None, final_at: dt.datetime | None) -> bool:
    """Whether a draft saved at ``saved`` was saved before the latest version became final at
    ``final_at`` (None: it is not final): written before the result it would correct was
    signed, so not offered once it is (``workspace.inspector``)."""
    return saved is not None and final_at is not None and saved < utc(final_at)


def save(
    home: Path, round_key: str, credit_code: str, inspector_id: str, draft: dict[str, Any]
) -> None:
    folder = drafts_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    path = inside(folder, _name(round_key, credit_code, inspector_id))
    write_private(path, json.dumps(draft, ensure_ascii=False, sort_keys=True).encode("utf-8"))


def discard(home: Path, round_key: str, credit_code: str, inspector_id: str) -> None:
    inside(drafts_dir(home), _name(round_key, credit_code, inspector_id)).unlink(missing_ok=True)
