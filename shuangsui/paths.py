"""Paths built from data stay inside their root.

Every place that writes or removes a file whose name comes from data (a round key, a manifest
entry, an idempotency key, a digest) builds the path with :func:`inside`: the path is resolved,
symlinks included, and refused unless it lies strictly below the resolved root. A key that got
past the grammar (:mod:`shuangsui.keys`), a row written into the database by hand or a crafted
manifest then fails loudly instead of reaching another folder.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath

from shuangsui.errors import UserError


class UnsafePath(UserError):
    """A path built from data would leave its root; nothing was written or removed."""


def inside(root: str | os.PathLike[str], *parts: str | PurePath) -> Path:
    """``root / parts``, resolved, if it lies strictly below the resolved ``root``.

    Refused: ``..`` that climbs out, absolute parts, symlinks (anywhere on the way) that point
    outside, and the root itself (a name from data must name something inside it)."""
    base = Path(root).resolve()
    for part in parts:
        if "\x00" in str(part):
            raise UnsafePath(f"{_shown(parts)}: a path may not contain a NUL character")
    target = base.joinpath(*parts).resolve()
    if target == base or not target.is_relative_to(base):
        raise UnsafePath(
            f"{_shown(parts)}: refused, the path would not be inside {base.name or base}/ "
            "(a name from data must stay inside its folder)"
        )
    return target


def _shown(parts: tuple[str | PurePath, ...]) -> str:
    return repr("/".join(str(p) for p in parts)[:120])


def child(root: str | os.PathLike[str], name: str) -> Path:
    """``root / name`` where ``name`` is one entry directly inside ``root`` (no ``/``, not
    ``.`` or ``..``), as for a round's folder named by its key."""
    path = inside(root, name)
    if "/" in name or "\\" in name or path.parent != Path(root).resolve():
        raise UnsafePath(f"{_shown((name,))}: refused, not a single name inside {Path(root).name}/")
    return path
