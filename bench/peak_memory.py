"""The peak resident memory of one step of a bench, inside the bench's own process (Linux).

A bench process holds more than the step it times (the data it generated, the floor's inputs),
so its ``ru_maxrss`` says little about the step. The kernel's high-water mark (``VmHWM`` in
``/proc/self/status``) can be reset to the current RSS by writing ``5`` to
``/proc/self/clear_refs``: reset before the step, read after it, it is the step's peak on top
of what the process already held (given beside it). Elsewhere, or where the reset is refused,
the figures are None and the bench prints that it could not measure them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_STATUS = Path("/proc/self/status")


def _mib(field: str) -> float:
    found = re.search(rf"^{field}:\s+(\d+) kB$", _STATUS.read_text(), re.MULTILINE)
    if found is None:
        raise OSError(f"no {field} in {_STATUS}")
    return int(found.group(1)) / 1024


@contextmanager
def step_peak() -> Iterator[dict[str, float | None]]:
    """``with step_peak() as mem: ...``; afterwards ``mem["before"]`` is the RSS when the step
    began and ``mem["peak"]`` the highest RSS while it ran (MiB), or both None."""
    mem: dict[str, float | None] = {"before": None, "peak": None}
    try:
        Path("/proc/self/clear_refs").write_text("5")
        mem["before"] = _mib("VmRSS")
    except OSError:
        pass
    yield mem
    if mem["before"] is not None:
        mem["peak"] = _mib("VmHWM")


def describe(mem: dict[str, float | None]) -> str:
    if mem["peak"] is None or mem["before"] is None:
        return "not measured (no /proc/self/clear_refs here)"
    peak, before = mem["peak"], mem["before"]
    return f"peak {peak:,.0f} MiB, {peak - before:+,.0f} over the {before:,.0f} MiB held before it"
