"""Replacing a member of a large joint round's team (docs/draw-algorithm.md §13.7): what it costs
the bureau that records it, and a partner that takes it in, now and as it was before.

    .venv/bin/python bench/bench_joint_replace.py [--enterprises 30000] [--inspectors 1500]
        [--times 3] [--workdir DIR]

Three bureaus, each its own SQLite database and a real API on loopback (as tests/joint), the
lead's registry holding ``--enterprises`` enterprises (tests.rounds.factories.seed_registry),
each bureau ``--inspectors`` inspectors; a joint round of one inspector of each bureau per team
committed, revealed and drawn by all three. Then, in turns (the machine's load falls on both
alike), the CPU time (``time.process_time``) of:

* floor      — the lead's committed frame parsed (``json.loads`` of its payload) alone;
* recorded   — ``joint.withdraw.replace_member`` by Shanghai, its POSTs to the partners left
               out (taken in below, each measured by itself): now, and as before, when the
               notice hook read the lead's whole frame again to name one enterprise and the
               new member's notice was queued afterwards by ``notify_own_inspectors``, which
               wrote every notice of ours in the round to queue one;
* taken in   — ``joint.replacements.accept_replacement`` of that statement at Zhejiang: now,
               and with the hook reading the whole frame as before.

Prints figures (medians); asserts no time.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' bureaus and registries

FJ, SH, ZJ = "350000", "310000", "330000"
JOINT = "jt-bench"


def cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--enterprises", type=int, default=30_000)
    ap.add_argument("--inspectors", type=int, default=1_500)
    ap.add_argument("--times", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    from sqlmodel import Session, select

    from exchange.directory import load_directory
    from joint import notify, replacements, service, withdraw
    from joint.models import JointRound, JointStatement
    from joint.service import Bureau as Me
    from shuangsui import wiring
    from tests.exchange.bureaus import make_bureau, served, write_directory
    from tests.joint.world import NAMES, joint_yaml
    from tests.rounds.factories import seed_registry
    from tests.servers import free_port

    wiring.install()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="shuangsui-bench-joint-"))
    bureaus = {c: make_bureau(work, c) for c in NAMES}
    ports = {c: free_port() for c in NAMES}
    t0 = time.perf_counter()
    for c, b in bureaus.items():
        b.base_url = f"http://127.0.0.1:{ports[c]}"
        seed_registry(b.engine, enterprises=args.enterprises if c == FJ else 10,
                      inspectors=args.inspectors, seed=int(c[:2]), province=c[:2])  # fmt: skip
    for b in bureaus.values():
        write_directory(b.home / "partners.toml", [o for o in bureaus.values() if o is not b])
    me = {c: Me(c, b.key, load_directory(b.home / "partners.toml")) for c, b in bureaus.items()}
    print(f"registries: {time.perf_counter() - t0:.1f} s (wall)", flush=True)

    with contextlib.ExitStack() as stack:
        for c, b in bureaus.items():
            stack.enter_context(served(b, ports[c]))
        t0 = time.perf_counter()
        text = joint_yaml(JOINT)
        for step in (lambda c: service.commit(bureaus[c].engine, me[c], text),
                     lambda c: service.reveal(bureaus[c].engine, me[c], JOINT),
                     lambda c: service.draw(bureaus[c].engine, me[c], JOINT)):  # fmt: skip
            for c in NAMES:
                step(c)
        sh, zj = bureaus[SH].engine, bureaus[ZJ].engine
        with Session(sh) as s:
            row = s.get(JointRound, JOINT)
            assert row is not None and row.outcome is not None
            teams = row.outcome["teams"]
            q = select(JointStatement.payload).where(
                JointStatement.joint_key == JOINT, JointStatement.bureau == FJ,
                JointStatement.kind == "commit",
            )  # fmt: skip
            frame_text = s.exec(q).one()
        took = time.perf_counter() - t0
        print(f"joint round: {args.enterprises:,} enterprises in the lead's frame, "
              f"{len(teams):,} teams, {len(frame_text) / 1e6:.1f} MB of frame; committed, "
              f"revealed and drawn in {took:.1f} s (wall)", flush=True)  # fmt: skip

        hooks = replacements.after_replacement_hooks
        now_hooks = list(hooks)

        def whole_frame_hook(session: Any, row: Any, bureau: str, st: Any, ent: Any) -> int:
            notify._divisions(session, row)  # the lead's whole frame, read as the hook did
            return notify.tell_the_team(session, row, bureau, st, ent)

        withdraw.send = lambda *_: []  # type: ignore[assignment]  # taken in below
        codes = iter(sorted(teams))

        def record(before: bool) -> tuple[float, float]:
            code = next(codes)
            hooks[:] = [whole_frame_hook] if before else now_hooks
            try:
                took, done = cpu(lambda: withdraw.replace_member(
                    sh, me[SH], JOINT, code, teams[code][1][1], cause="conflict",
                    note="bench", recorded_by="bench"))  # fmt: skip
                if before:  # the new member's notice, queued after the statement's transaction
                    took += cpu(lambda: notify.notify_own_inspectors(sh, JOINT, SH))[0]
                with Session(sh) as s:
                    env = replacements.held_envelopes(s, JOINT)[SH][done.statement["n"] - 1]
                now = dt.datetime.now(dt.UTC)
                taken = cpu(lambda: replacements.accept_replacement(
                    zj, ZJ, JOINT, env["statement"], env, now))  # fmt: skip
                assert taken[1] == "replacement held", taken
                return took, taken[0]
            finally:
                hooks[:] = now_hooks

        floors, now, before = [], [], []
        for _ in range(args.times):
            floors.append(cpu(lambda: json.loads(frame_text))[0])
            now.append(record(before=False))
            before.append(record(before=True))

    med = statistics.median
    print(f"CPU seconds, median of {args.times} (time.process_time):")
    print(f"  floor: the lead's frame parsed once        {med(floors):6.3f}")
    print(f"  recorded (replace_member)  now {med(r for r, _ in now):6.3f}"
          f"   before {med(r for r, _ in before):6.3f}")  # fmt: skip
    print(f"  taken in at a partner      now {med(t for _, t in now):6.3f}"
          f"   before {med(t for _, t in before):6.3f}")  # fmt: skip
    for b in bureaus.values():
        b.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
