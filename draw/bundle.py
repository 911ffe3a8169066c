"""Verification bundles: the files an outsider needs to re-run a draw with verify.py.

Two audiences (docs/draw-algorithm.md §10, §12; docs/public-record.md says who may see which):

* ``auditor`` — the full bundle: plan.json (canonical plan bytes, sha256 = plan hash),
  frame-enterprises.jsonl, frame-inspectors.jsonl (one canonical JSON object per line, sorted
  by natural key), constraints.json, entropy.json, round.json, selection.json, teams.json
  (canonical JSON + newline), pseudonyms.json (version 2: the round's pseudonym key),
  verify.py (a verbatim copy of draw/verify_bundle.py) and MANIFEST.sha256 (``sha256sum``
  format). It names inspectors, their leave and their declared conflicts: auditors only.
* ``public`` — the same draw with the inspectors under pseudonyms:
  frame-inspectors-public.jsonl and recused-public.json replace the inspector frame and the
  constraints, teams.json names pseudonyms. No inspector id, name, unit, leave date or
  conflict detail is in it.

A round whose teams changed after the draw (§14) has one more file in either bundle,
replacements.json, right after teams.json: each replacement in order (ids for auditors,
pseudonyms for the public), checked against the pick §14 gives before it is written. teams.json
stays the draw's.

A round whose draw fails (no feasible team, §9) has a bundle too, for either audience: the same
inputs, round.json with ``"outcome": "failed"`` (the seed and strata counts up to the failure)
and failure.json (the enterprise, team size, eligible inspectors, rule, shortfall and message,
as that audience can recompute them) in place of selection.json and teams.json.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import verify_bundle as reference
from .canonical import canonical_json, sha256_hex
from .core import DrawInputs, DrawResult, commitments
from .errors import InfeasibleDraw
from .frame import EnterpriseFrame, jsonl_pieces
from .public import PublicView, public_view
from .replace import Replacement, ReplayMismatch, replay

__all__ = [
    "AUDIENCES",
    "BUNDLE_FILES",
    "PUBLIC_BUNDLE_FILES",
    "REPLACEMENTS",
    "VERIFY_SCRIPT",
    "bundle_files",
    "check_replacements",
    "failed_bundle_files",
    "failure_facts",
    "write_bundle",
    "write_failed_bundle",
    "write_pieces",
]

VERIFY_SCRIPT = Path(__file__).with_name("verify_bundle.py")
AUDIENCES = ("public", "auditor")
BUNDLE_FILES = (  # an auditor bundle of a version 1 round
    "plan.json",
    "frame-enterprises.jsonl",
    "frame-inspectors.jsonl",
    "constraints.json",
    "entropy.json",
    "round.json",
    "selection.json",
    "teams.json",
    "verify.py",
)
PUBLIC_BUNDLE_FILES = (
    "plan.json",
    "frame-enterprises.jsonl",
    "frame-inspectors-public.jsonl",
    "recused-public.json",
    "entropy.json",
    "round.json",
    "selection.json",
    "teams.json",
    "verify.py",
)
REPLACEMENTS = "replacements.json"  # §14: only in the bundle of a round with a replacement
# Every name a bundle of some kind holds. A bundle written into a folder that held another
# kind (the public bundle, then the auditor's) first removes those its own manifest will not
# list: verify.py refuses any file the manifest does not list. Only these names are removed,
# never a file a person put there.
ANY_BUNDLE_FILE = frozenset(
    (*BUNDLE_FILES, *PUBLIC_BUNDLE_FILES, "pseudonyms.json", REPLACEMENTS, "failure.json")
)
# A joint round's bundle (joint/bundle.py, §13.6): its own names, and a participant's files (a
# bureau code is 6 digits, joint/plan.py). Named here, where both writers see them: a round's
# bundle written where a joint one was removes these, a joint bundle a round's (joint imports
# this module; this module imports nothing of joint).
JOINT_BUNDLE_FILE = frozenset(("joint-plan.json", "statements.json", "outcome.json",
                               "verify_joint.py"))  # fmt: skip
JOINT_PARTICIPANT_FILE = re.compile(r"(inspectors-[0-9]{6}\.jsonl|conflicts-[0-9]{6}\.json)")


Data = bytes | Iterable[bytes]  # a file's bytes, or its pieces in order (a frame's lines)
Writer = Callable[[Path, Data], object]


def write_pieces(path: Path, data: Data) -> None:
    """Write ``data``, whole or in pieces, to ``path`` (the plain writer)."""
    with open(path, "wb") as fh:
        fh.writelines([data] if isinstance(data, bytes) else data)


def bundle_files(audience: str, version: int, *, replacements: bool = False) -> tuple[str, ...]:
    """The files a bundle holds (besides MANIFEST.sha256), in manifest order; with
    ``replacements`` (the round has at least one, §14) replacements.json after teams.json."""
    names: tuple[str, ...]
    if audience == "public":
        names = PUBLIC_BUNDLE_FILES
    else:
        names = BUNDLE_FILES if version < 2 else (*BUNDLE_FILES, "pseudonyms.json")
    if replacements:
        at = names.index("teams.json") + 1
        names = (*names[:at], REPLACEMENTS, *names[at:])
    return names


def failed_bundle_files(audience: str, version: int) -> tuple[str, ...]:
    """A failed round's bundle: failure.json in place of selection.json and teams.json."""
    drawn = ("selection.json", "teams.json")
    names = [n for n in bundle_files(audience, version) if n not in drawn]
    names.insert(names.index("verify.py"), "failure.json")
    return tuple(names)


def _line(obj: Any) -> bytes:
    return canonical_json(obj) + b"\n"


def _round_doc(
    inputs: DrawInputs, doc: Mapping[str, Any], meta: Mapping[str, Any] | None
) -> dict[str, Any]:
    return {
        "v": inputs.version,
        "round_key": doc["round_key"],
        "seed": doc["seed"],
        "entropy_digest": sha256_hex(canonical_json([dict(r) for r in inputs.entropy])),
        "commitments": doc["commitments"],
        "strata": doc["strata"],
        "meta": dict(meta or {}),
    }


def bundle_documents(
    inputs: DrawInputs,
    result: DrawResult,
    meta: Mapping[str, Any] | None = None,
    audience: str = "auditor",
    replacements: Sequence[Replacement] = (),
) -> dict[str, Data]:
    """The bundle's files (without verify.py and the manifest): bytes, and the enterprise
    frame in pieces, made as it is written. ``replacements``: the round's, in order, on
    inspector ids as recorded (checked by check_replacements; replacements.json if any)."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}, not {audience!r}")
    if replacements:
        check_replacements(inputs, result, replacements)
    doc = result.to_json()
    ents = EnterpriseFrame.of(inputs.enterprises)  # in credit-code order
    common: dict[str, Data] = {
        "plan.json": canonical_json(dict(inputs.plan)),
        "frame-enterprises.jsonl": jsonl_pieces(ents),  # canonical JSON lines
        "entropy.json": _line([dict(r) for r in inputs.entropy]),
        "selection.json": _line({"selected": doc["selected"]}),
    }
    round_doc = _round_doc(inputs, doc, meta)
    if audience == "public":
        return common | _public_documents(inputs, result, round_doc, replacements)
    insps = sorted(inputs.inspectors, key=lambda u: u.inspector_id)
    docs = common | {
        "frame-inspectors.jsonl": b"".join(_line(u.to_json()) for u in insps),
        "constraints.json": _line(
            {
                "conflicts": [list(p) for p in sorted(inputs.conflicts)],
                "recent": [list(p) for p in sorted(inputs.recent_pairs)],
            }
        ),
        "teams.json": _line({"teams": doc["teams"], "workloads": doc["workloads"]}),
    }
    if replacements:
        docs[REPLACEMENTS] = _replacements_line(replacements)
    if inputs.version >= 2:
        round_doc = {**round_doc, "audience": "auditor"}
        docs["pseudonyms.json"] = _line({"key": inputs.pseudonym_key.hex()})
    docs["round.json"] = _line(round_doc)
    return docs


def _view_of(inputs: DrawInputs) -> PublicView:
    return public_view(
        version=inputs.version,
        round_key=inputs.round_key,
        plan=inputs.plan,
        inspectors=inputs.inspectors,
        conflicts=inputs.conflicts,
        recent=inputs.recent_pairs,
        key=inputs.pseudonym_key,
    )


def _replacements_line(replacements: Sequence[Replacement]) -> bytes:
    """replacements.json (§14): canonical JSON and a newline, in order of ``n``."""
    return _line({"replacements": [r.to_json() for r in replacements]})


def _renamed(done: Replacement, names: Mapping[str, str]) -> Replacement:
    """``done`` with the withdrawn member and the replacement under ``names``."""
    w = dataclasses.replace(done.withdrawal, withdrawn=names[done.withdrawal.withdrawn])
    return Replacement(w, names[done.replacement])


def check_replacements(
    inputs: DrawInputs, result: DrawResult, replacements: Sequence[Replacement]
) -> None:
    """Each replacement is the pick §14 gives after those before it, as verify.py will redo it
    (draw.replace.ReplayMismatch or NoReplacement otherwise): a bundle is never written with
    replacements it refuses. Version 2 picks among pseudonyms, as §12.4 draws the teams."""
    codes = set(result.teams)
    enterprises = {u.credit_code: u for u in inputs.enterprises if u.credit_code in codes}
    insps, conflicts, recent = inputs.inspectors, inputs.conflicts, inputs.recent_pairs
    teams, workloads, recorded = result.teams, result.workloads, list(replacements)
    if inputs.version >= 2:
        names = _view_of(inputs).pseudonyms
        insps = [dataclasses.replace(u, inspector_id=names[u.inspector_id]) for u in insps]
        conflicts = frozenset((names[i], c) for i, c in conflicts if i in names)
        recent = frozenset((names[i], c) for i, c in recent if i in names)
        teams = {c: tuple(names[i] for i in team) for c, team in teams.items()}
        workloads = {names[i]: n for i, n in workloads.items()}
        for r in recorded:
            for i in (r.withdrawal.withdrawn, r.replacement):
                if i not in names:
                    raise ReplayMismatch(f"replacement {r.withdrawal.n}: {i} is not an inspector")
        recorded = [_renamed(r, names) for r in recorded]
    seed = bytes.fromhex(result.seed)
    replay(seed, inputs.plan, enterprises, insps, conflicts, recent, teams, workloads, recorded)


def _public_documents(
    inputs: DrawInputs,
    result: DrawResult,
    round_doc: dict[str, Any],
    replacements: Sequence[Replacement] = (),
) -> dict[str, bytes]:
    """Pseudonymous inspectors, recusals, teams and replacements (§12, §14); round.json says
    ``public``."""
    view = _view_of(inputs)
    names = view.pseudonyms
    commitments = {
        **round_doc["commitments"],
        "public_inspector_commitment": view.commitment,
        "public_inspector_size": len(view.inspectors),
        "public_recused_commitment": view.recused_commitment,
    }
    teams = {code: [names[i] for i in team] for code, team in result.teams.items()}
    workloads = {names[i]: n for i, n in result.workloads.items()}
    docs = {
        "frame-inspectors-public.jsonl": b"".join(_line(u.to_json()) for u in view.inspectors),
        "recused-public.json": _line({"recused": [list(p) for p in view.recused]}),
        "round.json": _line({**round_doc, "audience": "public", "commitments": commitments}),
        "teams.json": _line({"teams": teams, "workloads": workloads}),
    }
    if replacements:
        docs[REPLACEMENTS] = _replacements_line([_renamed(r, names) for r in replacements])
    return docs


def write_bundle(
    directory: str | Path,
    inputs: DrawInputs,
    result: DrawResult,
    meta: Mapping[str, Any] | None = None,
    audience: str = "auditor",
    write: Writer = write_pieces,
    *,
    replacements: Sequence[Replacement] = (),
) -> Path:
    """Write the bundle for ``audience`` into ``directory`` (created if needed); its path.

    ``meta``: free, non-recomputed information (bureau, published-at, beacon round named in
    advance ...); JSON values without floats. Anything meant for the public site is written
    with ``audience="public"``; the default, the full bundle, names inspectors.
    ``write(path, data)`` writes each file (the application passes its atomic writer);
    MANIFEST.sha256 is written last. ``replacements``: the round's replacements after the
    draw (§14), in order, on inspector ids as recorded; each is checked to be the pick the
    rules give, and they are written as replacements.json when there is at least one.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    docs = {
        **bundle_documents(inputs, result, meta, audience, replacements),
        "verify.py": VERIFY_SCRIPT.read_bytes(),
    }
    names = bundle_files(audience, inputs.version, replacements=bool(replacements))
    _write_all(out, docs, names, write)
    return out


def _reference_failure(inputs: DrawInputs, audience: str) -> tuple[str, dict[str, Any], Any]:
    """Run the stdlib reference (verify.py's own code) as ``audience`` can: its seed, its
    failure facts and its strata; raise ValueError if it does not fail."""
    ents = [u.to_json() for u in inputs.enterprises]
    seen: list[str] = []
    com = commitments(inputs).to_json(inputs.version)
    try:
        if audience == "public":
            view = public_view(version=inputs.version, round_key=inputs.round_key,
                               plan=inputs.plan, inspectors=inputs.inspectors,
                               conflicts=inputs.conflicts, recent=inputs.recent_pairs,
                               key=inputs.pseudonym_key)  # fmt: skip
            reference.public_draw(
                inputs.round_key, dict(inputs.plan), ents,
                [u.to_json() for u in view.inspectors], [list(p) for p in view.recused],
                [dict(r) for r in inputs.entropy], inputs.version, com, seen.append,
            )  # fmt: skip
        else:
            reference.reference_draw(
                inputs.round_key, dict(inputs.plan), ents,
                [u.to_json() for u in inputs.inspectors], sorted(inputs.conflicts),
                sorted(inputs.recent_pairs), [dict(r) for r in inputs.entropy],
                inputs.version, inputs.pseudonym_key, seen.append,
            )  # fmt: skip
    except reference.Infeasible as exc:
        ordered = sorted(ents, key=lambda e: e["credit_code"])
        strata, _, _ = reference.select_all(bytes.fromhex(seen[0]), dict(inputs.plan), ordered)
        return seen[0], exc.facts, strata
    raise ValueError(f"round {inputs.round_key}: the draw does not fail")


def failure_facts(inputs: DrawInputs, audience: str = "auditor") -> dict[str, Any]:
    """failure.json of a round whose draw fails, as ``audience`` can recompute it.

    The draw core must fail (InfeasibleDraw) and, for auditors, with the very message the
    stdlib reference gives; the public one, on pseudonyms, must fail at the same enterprise
    with the same eligible count and shortfall (the rule tallies differ: the public sees an
    unavailable inspector, not whether it is on leave)."""
    from .core import draw

    try:
        draw(inputs)
    except InfeasibleDraw as exc:
        core_message = str(exc)
    else:
        raise ValueError(f"round {inputs.round_key}: the draw does not fail")
    _, auditor, _ = _reference_failure(inputs, "auditor")
    if auditor["message"] != core_message:
        raise ValueError(f"the two implementations disagree: {core_message!r} != {auditor!r}")
    if audience == "auditor":
        return auditor
    _, public, _ = _reference_failure(inputs, "public")
    for name in ("credit_code", "team_size", "eligible", "shortfall"):
        if public[name] != auditor[name]:
            raise ValueError(f"the public view fails differently ({name}): {public!r}")
    return public


def write_failed_bundle(
    directory: str | Path,
    inputs: DrawInputs,
    meta: Mapping[str, Any] | None = None,
    audience: str = "auditor",
    write: Writer = write_pieces,
) -> Path:
    """Write the bundle of a round whose draw fails, for ``audience``; its path."""
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {AUDIENCES}, not {audience!r}")
    facts = failure_facts(inputs, audience)
    seed, _, strata = _reference_failure(inputs, audience)
    com = commitments(inputs)
    stub = DrawResult(inputs.round_key, seed, com, (), (), {}, {}, inputs.version)
    docs = bundle_documents(inputs, stub, meta, audience)
    round_doc = json.loads(docs["round.json"])  # type: ignore[arg-type]
    round_doc.update(strata=strata, outcome="failed")
    docs["round.json"] = _line(round_doc)
    docs["failure.json"] = _line(facts)
    docs["verify.py"] = VERIFY_SCRIPT.read_bytes()
    for name in ("selection.json", "teams.json"):
        docs.pop(name)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    _write_all(out, docs, failed_bundle_files(audience, inputs.version), write)
    return out


def other_bundle_files(out: Path, names: Collection[str]) -> list[Path]:
    """The files in ``out`` of a bundle whose manifest ``names`` will not list: a round's of
    another kind (:data:`ANY_BUNDLE_FILE`) or a joint round's (:data:`JOINT_BUNDLE_FILE`,
    :data:`JOINT_PARTICIPANT_FILE`). Only these names: a file a person put there stays, and
    the bundle's verifier names it."""
    return [
        path
        for path in sorted(out.iterdir())
        if path.name not in names
        and not path.is_dir()
        and (
            path.name in ANY_BUNDLE_FILE
            or path.name in JOINT_BUNDLE_FILE
            or JOINT_PARTICIPANT_FILE.fullmatch(path.name)
        )
    ]


def _write_all(out: Path, docs: Mapping[str, Data], names: tuple[str, ...], write: Writer) -> None:
    """Write each file, then MANIFEST.sha256 over ``names``, last (a bundle without it is
    incomplete). A file in pieces is hashed as its pieces are written. Files of another
    bundle are removed first (:func:`other_bundle_files`)."""
    for stale in other_bundle_files(out, names):
        stale.unlink(missing_ok=True)
    digests = {}
    for name, data in docs.items():
        digest = hashlib.sha256()
        if isinstance(data, bytes):
            digest.update(data)
        else:
            data = _hashed(data, digest)
        write(out / name, data)
        digests[name] = digest.hexdigest()
    lines = [f"{digests[name]}  {name}\n" for name in names]
    write(out / "MANIFEST.sha256", "".join(lines).encode("utf-8"))


def _hashed(pieces: Iterable[bytes], digest: Any) -> Iterator[bytes]:
    for piece in pieces:
        digest.update(piece)
        yield piece
