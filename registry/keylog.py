"""The keys an import set has seen that its tables cannot answer for, in memory as 64-bit hashes.

A re-import must tell a key's repeat within the import set from the row stored before it, which
the table cannot do, so it logs every key it reads; a first import logs the rows it left
unwritten. Each key is kept as its hash with the file and row it was seen on, 16 bytes: the
12.5 million certificates of a 10,000,000-enterprise registry in 200 MB, where a dict of the
keys took about 150 bytes a key and a temporary table cost PostgreSQL 22 microseconds of its
own time a key (``docs/benchmarks.md``, Registry import).

A hash says only that a key *may* have been seen: two keys can share one. The log hands back
the rows a hash points at, and the importer confirms a match by reading those rows again
(:func:`registry.importer._settle`), so the answer is exact; on a good import no hash matches
(a chance of about one in 200,000 for 12.5 million keys) and nothing is read again.

The hashes are sorted runs, merged as they grow (a run is merged into the one before it once it
is at least half its size, until that one holds ``RUN_LIMIT`` entries), so a look-up is a binary
search in each of a few dozen runs at most, each key is merged about log2(keys / chunk) times,
and a merge never needs more than about twice ``RUN_LIMIT`` x 16 bytes beside the log.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence

import numpy as np

ENTRY = np.dtype([("hash", "<i8"), ("file", "<i4"), ("row", "<i4")])
RUN_LIMIT = 1 << 22  # entries (64 MiB) in a run that takes no more merges

key_hash: Callable[[Hashable], int] = hash  # 64 bits, keyed per process: nobody can aim at a clash


def _merged(older: np.ndarray, newer: np.ndarray) -> np.ndarray:
    """One sorted run of two, an equal hash of ``older`` before ``newer``'s (in the order they
    were logged): each of ``newer``'s entries goes after the entries of ``older`` not above it."""
    at = np.searchsorted(older["hash"], newer["hash"], side="right") + np.arange(len(newer))
    out = np.empty(len(older) + len(newer), dtype=ENTRY)
    out[at] = newer
    rest = np.ones(len(out), dtype=bool)
    rest[at] = False
    out[rest] = older
    return out


def hashes(keys: Sequence[Hashable]) -> np.ndarray:
    return np.fromiter(map(key_hash, keys), dtype=np.int64, count=len(keys))


class KeyLog:
    def __init__(self) -> None:
        self.files: list[str] = []  # the files keys were logged from, in the order they came
        self._runs: dict[str, list[np.ndarray]] = {}  # kind -> runs of ENTRY sorted by hash

    def __len__(self) -> int:
        return sum(len(run) for runs in self._runs.values() for run in runs)

    def add(
        self, kind: str, file: str, keys: Sequence[Hashable], rows: Sequence[int]
    ) -> np.ndarray:
        """Log ``keys``, seen on ``rows`` of ``file``; for each, whether a key with its hash
        was logged before (as :meth:`perhaps`)."""
        wanted = hashes(keys)
        seen = self._seen(kind, wanted)
        if not keys:
            return seen
        if file not in self.files:
            self.files.append(file)
        run = np.empty(len(keys), dtype=ENTRY)
        run["hash"] = wanted
        run["file"] = self.files.index(file)
        run["row"] = rows
        runs = self._runs.setdefault(kind, [])
        runs.append(run[np.argsort(run["hash"], kind="stable")])
        while len(runs) > 1 and RUN_LIMIT > len(runs[-2]) <= 2 * len(runs[-1]):
            newer = runs.pop()
            runs.append(_merged(runs.pop(), newer))
        return seen

    def forget(self, kind: str) -> None:
        """Drop the keys of ``kind``: no file after this one can repeat them."""
        self._runs.pop(kind, None)

    def perhaps(self, kind: str, keys: Sequence[Hashable]) -> np.ndarray:
        """For each of ``keys``, whether a key with its hash was logged (it may have been)."""
        return self._seen(kind, hashes(keys))

    def _seen(self, kind: str, wanted: np.ndarray) -> np.ndarray:
        found = np.zeros(len(wanted), dtype=bool)
        for run in self._runs.get(kind, ()):
            at = np.searchsorted(run["hash"], wanted)
            inside = at < len(run)
            found[inside] |= run["hash"][at[inside]] == wanted[inside]
        return found

    def entries(self, kind: str, key_hashes: Iterable[int]) -> list[tuple[int, str, int]]:
        """``(hash, file, row)`` of every logged entry with one of ``key_hashes``, in the order
        they were logged."""
        wanted = np.unique(np.fromiter(key_hashes, dtype=np.int64))
        hits = [run[np.isin(run["hash"], wanted)] for run in self._runs.get(kind, ())]
        found = np.concatenate(hits) if hits else np.empty(0, dtype=ENTRY)
        found = found[np.lexsort((found["row"], found["file"]))]
        return [(int(h), self.files[f], int(r)) for h, f, r in found.tolist()]
