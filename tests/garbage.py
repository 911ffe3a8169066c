"""What a bulk step run with the cyclic collector paused (``shuangsui.collector``) left in
reference cycles: kept in memory until the next collection, so a test looks for none."""

from __future__ import annotations

import gc
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Garbage:
    frames: list[str] = field(default_factory=list)  # "file:function" of the frames in cycles
    rows: list[dict] = field(default_factory=list)  # dicts with a credit code, in cycles


@contextmanager
def garbage_of(folder: str) -> Iterator[Garbage]:
    """What the block left in cycles: its frames of code under ``folder`` (e.g. "/leads/")
    and its rows, filled in when the block ends (a collection that keeps what it finds)."""
    found = Garbage()
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds is kept in gc.garbage to look at
    try:
        yield found
        gc.collect()
        found.frames = [
            f"{o.f_code.co_filename}:{o.f_code.co_name}"
            for o in gc.garbage
            if isinstance(o, types.FrameType) and folder in o.f_code.co_filename
        ]
        found.rows = [o for o in gc.garbage if isinstance(o, dict) and "credit_code" in o]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
