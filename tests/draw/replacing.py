"""Replacements after the draw made with draw.replace (docs/draw-algorithm.md §14), as a bureau
records them: a version 2 round picks among pseudonyms (§12.4), the record names ids."""

from __future__ import annotations

import dataclasses

from draw.core import DrawInputs, DrawResult
from draw.public import public_view
from draw.replace import Replacement, TeamsNow, Withdrawal, pick_replacement


def names_of(inputs: DrawInputs) -> dict[str, str]:
    """inspector_id -> the name picks sort by: the pseudonym in version 2, else the id."""
    if inputs.version < 2:
        return {u.inspector_id: u.inspector_id for u in inputs.inspectors}
    view = public_view(version=inputs.version, round_key=inputs.round_key, plan=inputs.plan,
                       inspectors=inputs.inspectors, conflicts=inputs.conflicts,
                       recent=inputs.recent_pairs, key=inputs.pseudonym_key)  # fmt: skip
    return view.pseudonyms


class Replacer:
    """A drawn round and its replacements so far; ``withdraw`` records the next one."""

    def __init__(self, inputs: DrawInputs, result: DrawResult) -> None:
        names = names_of(inputs)
        self.back = {p: i for i, p in names.items()}
        self.seed = bytes.fromhex(result.seed)
        self.plan = inputs.plan
        self.enterprises = {u.credit_code: u for u in inputs.enterprises
                            if u.credit_code in result.teams}  # fmt: skip
        self.inspectors = [dataclasses.replace(u, inspector_id=names[u.inspector_id])
                           for u in inputs.inspectors]  # fmt: skip
        self.conflicts = frozenset((names[i], c) for i, c in inputs.conflicts if i in names)
        self.recent = frozenset((names[i], c) for i, c in inputs.recent_pairs if i in names)
        self.now = TeamsNow.drawn(
            {c: [names[i] for i in team] for c, team in result.teams.items()},
            {names[i]: n for i, n in result.workloads.items()},
        )
        self.recorded: list[Replacement] = []  # on inspector ids

    def member(self, credit_code: str, position: int) -> str:
        """The inspector id at ``position`` of the team as it stands."""
        return self.back[self.now.teams[credit_code][position]]

    def withdraw(self, credit_code: str, position: int, cause: str) -> Replacement:
        """Record the next replacement (draw.replace.NoReplacement if nobody is left)."""
        sitting = self.now.teams[credit_code][position]
        w = Withdrawal(self.now.count + 1, credit_code, position, sitting, cause)
        ent = self.enterprises[credit_code]
        pick = pick_replacement(
            self.seed, self.plan, ent, self.inspectors, self.conflicts, self.recent, self.now, w
        )
        self.now.apply(Replacement(w, pick))
        done = Replacement(dataclasses.replace(w, withdrawn=self.back[sitting]), self.back[pick])
        self.recorded.append(done)
        return done

    def teams(self) -> dict[str, list[str]]:
        return {c: [self.back[p] for p in team] for c, team in self.now.teams.items()}

    def workloads(self) -> dict[str, int]:
        return {self.back[p]: n for p, n in self.now.workloads.items()}
