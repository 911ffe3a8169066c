"""Public bundles: every team checkable by anyone, no inspector identifiable by anyone.

Pure part: version 2 vectors through both implementations, the public and auditor bundles
verified by `python3 -I -S verify.py DIR`, tampering caught. Database part: a committed and
drawn round, its bundles and the published site scanned for every inspector's personal data.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from draw.bundle import PUBLIC_BUNDLE_FILES, bundle_files, write_bundle
from draw.canonical import canonical_json
from draw.core import DrawInputs, draw

from .test_bundle import run_verify
from .vectors import VECTOR_DIR, inputs_from_json, load_reference, run_core
from .vectors_v2 import KEY, V2_DIR, public_expected, v2_inputs_from_json

V2_VECTORS = sorted(V2_DIR.glob("*.json"))
BREAKING = "version 2 vector {} changed: a BREAKING change to every version 2 draw"


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _v2(name: str) -> DrawInputs:
    doc = _load(VECTOR_DIR / f"{name}.json")
    return dataclasses.replace(inputs_from_json(doc["inputs"]), version=2, pseudonym_key=KEY)


# ------------------------------------------------------------------ version 2 vectors
def test_v2_vectors_exist_and_v1_vectors_keep_their_seeds() -> None:
    assert {p.stem for p in V2_VECTORS} == {"tiny-uniform-v2", "teams-v2"}
    for path in V2_VECTORS:
        doc = _load(path)
        v1 = _load(VECTOR_DIR / f"{doc['name'][:-3]}.json")
        assert run_core(v1["inputs"]) == v1["expected"]  # version 1 untouched by version 2
        assert doc["expected"]["seed"] != v1["expected"]["seed"]  # "v": 2 is in the seed
        assert doc["expected"]["selected"] != [] and doc["expected"]["teams"]


@pytest.mark.parametrize("path", V2_VECTORS, ids=[p.stem for p in V2_VECTORS])
def test_v2_vector_numpy_and_stdlib(path: Path) -> None:
    doc = _load(path)
    ref = load_reference()
    inp = doc["inputs"]
    got = json.loads(json.dumps(draw(v2_inputs_from_json(inp)).to_json()))
    assert got == doc["expected"], BREAKING.format(doc["name"])
    ref_got = ref.reference_draw(
        inp["round_key"], inp["plan"], inp["enterprises"], inp["inspectors"], inp["conflicts"],
        inp["recent"], inp["entropy"], 2, bytes.fromhex(inp["key"]),
    )  # fmt: skip
    assert ref_got == doc["expected"], BREAKING.format(doc["name"])
    assert public_expected(v2_inputs_from_json(inp), got) == doc["expected_public"]


@pytest.mark.parametrize("path", V2_VECTORS, ids=[p.stem for p in V2_VECTORS])
def test_v2_vector_redone_by_the_public_from_pseudonyms_only(path: Path) -> None:
    """What the public sees (pseudonymous rows and recusals) gives the same seed, selection,
    and teams and workloads on pseudonyms."""
    doc = _load(path)
    ref = load_reference()
    inp, want, pub = doc["inputs"], doc["expected"], doc["expected_public"]
    got = ref.public_draw(inp["round_key"], inp["plan"], inp["enterprises"], pub["inspectors"],
                          pub["recused"], inp["entropy"], 2, want["commitments"])  # fmt: skip
    assert got["seed"] == want["seed"] and got["selected"] == want["selected"]
    assert got["teams"] == pub["teams"] and got["workloads"] == pub["workloads"]
    for name in ("public_inspector_commitment", "public_recused_commitment"):
        assert got["commitments"][name] == want["commitments"][name]


def test_teams_v2_vector_hides_why_an_inspector_is_unavailable_or_recused() -> None:
    pub = _load(V2_DIR / "teams-v2.json")["expected_public"]
    assert sum(not r["available"] for r in pub["inspectors"]) == 3  # inactive, credential, leave
    assert {tuple(sorted(r)) for r in pub["inspectors"]} == {
        ("available", "division_code", "expertise", "pseudonym")
    }
    assert pub["recused"] and all(len(p) == 2 for p in pub["recused"])


# ------------------------------------------------------------------ bundles
@pytest.fixture(scope="module")
def v2_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    inputs = _v2("teams")
    result = draw(inputs)
    root = tmp_path_factory.mktemp("v2")
    return {
        aud: write_bundle(root / aud, inputs, result, {"bureau": "测试局"}, aud)
        for aud in ("public", "auditor")
    }


@pytest.fixture
def public(v2_bundles: dict[str, Path], tmp_path: Path) -> Path:
    return Path(shutil.copytree(v2_bundles["public"], tmp_path / "public"))


def _identities(inputs: DrawInputs) -> set[str]:
    found = set()
    for u in inputs.inspectors:
        found |= {u.inspector_id, u.unit, u.credential_from, u.credential_until}
        found |= {d for leave in u.leaves for d in leave}
    return found - {""}


def _scan(folder: Path, secrets: set[str]) -> list[tuple[str, str]]:
    hits = []
    for path in folder.rglob("*"):
        if path.is_file() and path.name != "verify.py":
            text = path.read_bytes().decode("utf-8", errors="replace")
            hits += [(s, path.name) for s in secrets if s in text]
    return hits


def test_public_bundle_names_no_inspector_and_auditor_bundle_does(
    v2_bundles: dict[str, Path],
) -> None:
    inputs = _v2("teams")
    secrets = _identities(inputs)
    assert any(d.startswith("2026-12-2") for d in secrets)  # the vector has leave dates
    assert _scan(v2_bundles["public"], secrets) == []
    assert sorted(p.name for p in v2_bundles["public"].iterdir()) == sorted(
        [*PUBLIC_BUNDLE_FILES, "MANIFEST.sha256"]
    )
    # the scan can fail: the auditor bundle holds ids, units, leave and conflicts
    assert {s for s, _ in _scan(v2_bundles["auditor"], secrets)} == secrets
    assert sorted(p.name for p in v2_bundles["auditor"].iterdir()) == sorted(
        [*bundle_files("auditor", 2), "MANIFEST.sha256"]
    )


def test_public_v2_bundle_verifies_teams_on_pseudonyms(v2_bundles: dict[str, Path]) -> None:
    proc = run_verify(v2_bundles["public"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "bundle: draw version 2, public bundle" in out
    assert "inspectors: 11 under pseudonyms, 8 available in the window" in out
    assert "bound to the seed" in out and "NOT bound" not in out
    assert "teams ok, workloads ok, on pseudonyms" in out and "recusals" in out
    assert "MANIFEST.sha256: 9 files ok" in out


def test_auditor_v2_bundle_verifies_identities_key_and_public_view(
    v2_bundles: dict[str, Path],
) -> None:
    proc = run_verify(v2_bundles["auditor"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pseudonyms: 11 derived from the round's key; public view commitments ok" in (
        proc.stdout
    )
    assert "MANIFEST.sha256: 10 files ok" in proc.stdout
    seeds = {
        aud: json.loads((p / "round.json").read_text("utf-8"))["seed"]
        for aud, p in v2_bundles.items()
    }
    assert seeds["public"] == seeds["auditor"]


def test_public_v1_bundle_verifies_and_says_it_is_not_bound(tmp_path: Path) -> None:
    doc = _load(VECTOR_DIR / "teams.json")
    inputs = inputs_from_json(doc["inputs"])
    out = write_bundle(tmp_path / "v1", inputs, draw(inputs), audience="public")
    assert _scan(out, _identities(inputs)) == []
    proc = run_verify(out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NOT bound to the seed in draw version 1" in proc.stdout
    assert json.loads((out / "round.json").read_text("utf-8"))["seed"] == doc["expected"]["seed"]


# ------------------------------------------------------------------ tampering
def _rewrite(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    if path.suffix == ".jsonl":
        rows = [json.loads(x) for x in path.read_text("utf-8").splitlines()]
        rows = change(rows)
        path.write_bytes(b"".join(canonical_json(r) + b"\n" for r in rows))
    else:
        doc = json.loads(path.read_text("utf-8"))
        change(doc)
        path.write_bytes(canonical_json(doc) + b"\n")


def _reseal(bundle: Path, ref: Any) -> None:
    """What a forger would do: make round.json and the manifest agree with the edits."""
    rows = [json.loads(x) for x in (bundle / "frame-inspectors-public.jsonl").read_text("utf-8")
            .splitlines()]  # fmt: skip
    pairs = json.loads((bundle / "recused-public.json").read_text("utf-8"))["recused"]

    def fix(doc: dict) -> None:
        com = doc["commitments"]
        com["public_inspector_commitment"] = ref.commitment([ref.public_row(r) for r in rows])
        com["public_recused_commitment"] = ref.recused_commitment(pairs)

    _rewrite(bundle / "round.json", fix)
    lines = [
        f"{ref.hashlib.sha256((bundle / n).read_bytes()).hexdigest()}  {n}\n"
        for n in PUBLIC_BUNDLE_FILES
    ]
    (bundle / "MANIFEST.sha256").write_text("".join(lines), encoding="utf-8")


def _fail(bundle: Path) -> str:
    proc = run_verify(bundle)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_tampered_public_team_is_caught(public: Path) -> None:
    def other_member(doc: dict) -> None:
        code = sorted(doc["teams"])[2]
        team = doc["teams"][code]
        spare = sorted(set(doc["workloads"]) - set(team))[0]
        doc["teams"][code] = [team[0], spare]

    _rewrite(public / "teams.json", other_member)
    assert _fail(public).startswith("FAIL: teams.json: team of ")


def test_swapped_pseudonyms_in_the_public_frame_are_caught(public: Path) -> None:
    def swap(rows: list[dict]) -> list[dict]:
        a, b = next((i, j) for i in range(len(rows)) for j in range(i + 1, len(rows))
                    if rows[i]["expertise"] != rows[j]["expertise"])  # fmt: skip
        rows[a]["pseudonym"], rows[b]["pseudonym"] = rows[b]["pseudonym"], rows[a]["pseudonym"]
        return sorted(rows, key=lambda r: r["pseudonym"])

    _rewrite(public / "frame-inspectors-public.jsonl", swap)
    assert _fail(public).startswith(
        "FAIL: frame-inspectors-public.jsonl: commitment (round.json public_inspector_commitment)"
    )


@pytest.mark.parametrize("edit", ["unavailable", "recusal-dropped", "pseudonym-remapped"])
def test_consistent_forgery_of_the_public_view_breaks_the_seed(public: Path, edit: str) -> None:
    """Version 2 binds the public view into the seed: a forger who recomputes round.json and
    the manifest still cannot make the seed agree."""
    ref = load_reference()
    rows = [json.loads(x) for x in (public / "frame-inspectors-public.jsonl")
            .read_text("utf-8").splitlines()]  # fmt: skip
    if edit == "unavailable":
        first = next(r["pseudonym"] for r in rows if r["available"])
        _rewrite(public / "frame-inspectors-public.jsonl",
                 lambda rs: [dict(r, available=r["pseudonym"] != first) if r["available"] else r
                             for r in rs])  # fmt: skip
    elif edit == "recusal-dropped":
        _rewrite(public / "recused-public.json", lambda d: d["recused"].pop(0))
    else:  # two unlike inspectors' pseudonyms exchanged in frame and recusals alike
        like = {k: v for k, v in rows[0].items() if k != "pseudonym"}
        a = rows[0]["pseudonym"]
        b = next(r["pseudonym"] for r in rows if {**r, "pseudonym": a} != {**like, "pseudonym": a})
        swap = {a: b, b: a}
        _rewrite(public / "frame-inspectors-public.jsonl",
                 lambda rs: sorted((dict(r, pseudonym=swap.get(r["pseudonym"], r["pseudonym"]))
                                    for r in rs), key=lambda r: r["pseudonym"]))  # fmt: skip
        _rewrite(
            public / "recused-public.json",
            lambda d: d.update(recused=sorted([swap.get(p, p), c] for p, c in d["recused"])),
        )
    _reseal(public, ref)
    assert _fail(public).startswith("FAIL: round.json: seed (from round_key, the commitments")


def test_tampered_pseudonym_key_in_the_auditor_bundle_is_caught(
    v2_bundles: dict[str, Path], tmp_path: Path
) -> None:
    auditor = Path(shutil.copytree(v2_bundles["auditor"], tmp_path / "auditor"))
    _rewrite(auditor / "pseudonyms.json", lambda d: d.update(key="00" * 32))
    assert _fail(auditor).startswith("FAIL: pseudonyms.json: public view")


# ------------------------------------------------------------------ database, CLI, site
UNUSUAL = {"leave": ["2026-12-09", "2026-12-11"], "far": ["2031-07-13", "2031-07-20"]}


def _personal_registry(engine: sa.Engine) -> set[str]:
    """Seed the registry with inspectors whose data is easy to spot; what must never leak."""
    from registry.models import Conflict, Inspector
    from tests.rounds.factories import seed_registry

    seed_registry(engine, inspectors=14)
    with Session(engine) as s:
        inspectors = list(s.exec(select(Inspector)).all())
        for n, ins in enumerate(inspectors):
            ins.unit = f"第{n + 1}稽查支队（甲）"
            ins.leave = [UNUSUAL["leave"] if n == 1 else UNUSUAL["far"]]
            s.add(ins)
        s.commit()
        conflicts = list(s.exec(select(Conflict)).all())
        secrets = {c.reason for c in conflicts}
        for ins in inspectors:
            secrets |= {ins.inspector_id, ins.name, ins.unit, ins.credential_no, ins.email}
            secrets |= {d for pair in ins.leave for d in pair}
    return secrets


def test_round_bundles_and_published_site_hold_no_inspector_data(
    engine: sa.Engine, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from rounds import service
    from rounds.bundle import bundle_round, run_verify_script
    from shuangsui.cli import _register_groups, app
    from tests.findings.factories import ROUND
    from tests.rounds.factories import plan_yaml
    from website.site import publish

    secrets = _personal_registry(engine)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml())
    assert rnd.draw_version == 2 and rnd.public_inspector_commitment
    service.draw_round(engine=engine, round_key=ROUND, entropy=service.EntropyInput(
        witness_digits="3141592653589793238462643", witnesses=("张三",)))  # fmt: skip

    site = tmp_path / "site"
    publish(engine, site)
    public = bundle_round(engine, ROUND, tmp_path / "public")  # the default audience
    for folder in (site, public):
        assert _scan(folder, secrets) == [], folder
    verdict = run_verify_script(site / "rounds" / ROUND / "bundle")
    assert verdict.returncode == 0, verdict.stdout
    assert "on pseudonyms" in verdict.stdout and "bound to the seed" in verdict.stdout

    _register_groups()
    cli = CliRunner()
    out = cli.invoke(app, ["round", "bundle", ROUND, "--out", str(tmp_path / "aud"),
                           "--audience", "auditor"])  # fmt: skip
    assert out.exit_code == 0, out.output
    auditor = run_verify_script(tmp_path / "aud")
    assert auditor.returncode == 0 and "pseudonyms: 14 derived" in auditor.stdout
    assert _scan(tmp_path / "aud", secrets)  # identities are there, for auditors
    bad = cli.invoke(app, ["round", "bundle", ROUND, "--out", str(tmp_path / "x"),
                           "--audience", "everyone"])  # fmt: skip
    assert bad.exit_code != 0 and not (tmp_path / "x").exists()
    assert "audience" in bad.output + str(bad.exception)


def test_republishing_replaces_an_earlier_full_bundle(engine: sa.Engine, tmp_path: Path) -> None:
    """A site published before public bundles existed held the full bundle: it goes."""
    from tests.findings.factories import ROUND, drawn_round
    from website.site import MANIFEST, publish

    drawn_round(engine)
    site = tmp_path / "site"
    publish(engine, site)
    folder = site / "rounds" / ROUND / "bundle"
    (folder / "frame-inspectors.jsonl").write_text('{"inspector_id":"FJ0001"}\n', "utf-8")
    (folder / "constraints.json").write_text('{"conflicts":[]}\n', "utf-8")
    manifest = json.loads((site / MANIFEST).read_text("utf-8"))
    manifest["bundles"][ROUND] = manifest["bundles"][ROUND].split(":")[-1]  # an older stamp
    manifest["files"][f"rounds/{ROUND}/bundle/constraints.json"] = ["0" * 64, 17]
    (site / MANIFEST).write_text(json.dumps(manifest), "utf-8")
    report = publish(engine, site)
    assert f"rounds/{ROUND}/bundle/frame-inspectors.jsonl" in report.removed
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*PUBLIC_BUNDLE_FILES, "MANIFEST.sha256"]
    )
    assert run_verify(folder).returncode == 0


@pytest.mark.parametrize("name", [*PUBLIC_BUNDLE_FILES, "MANIFEST.sha256"])
def test_any_changed_byte_of_a_public_bundle_fails_naming_the_file(public: Path, name: str) -> None:
    from .test_bundle import _flip

    script = public.parent / "verify-pristine.py"
    shutil.copyfile(public / "verify.py", script)
    path = public / name
    original = path.read_bytes()
    for fraction in (0.1, 0.5, 0.93):
        path.write_bytes(_flip(original, int(len(original) * fraction)))
        proc = run_verify(public, script)
        assert proc.returncode == 1, (name, fraction, proc.stdout)
        assert name in proc.stdout.strip().splitlines()[-1], (name, fraction, proc.stdout)
    path.write_bytes(original)
    assert run_verify(public, script).returncode == 0


def test_a_version_1_round_in_the_database_still_draws_and_verifies(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """Rounds committed before version 2 (the migration marks them 1) keep their draw."""
    from draw.bundle import BUNDLE_FILES
    from rounds import service
    from rounds.bundle import bundle_round, recompute, run_verify_script
    from tests.findings.factories import ROUND
    from tests.rounds.factories import plan_yaml

    secrets = _personal_registry(engine)
    rnd = service.commit_round(engine=engine, plan_text=plan_yaml(), draw_version=1)
    assert rnd.draw_version == 1 and rnd.public_inspector_commitment is None
    service.draw_round(engine=engine, round_key=ROUND, entropy=service.EntropyInput(
        witness_digits="3141592653589793238462643", witnesses=("张三",)))  # fmt: skip
    assert recompute(engine, ROUND).inputs.version == 1
    auditor = bundle_round(engine, ROUND, tmp_path / "aud", "auditor")
    assert sorted(p.name for p in auditor.iterdir()) == sorted([*BUNDLE_FILES, "MANIFEST.sha256"])
    assert run_verify_script(auditor).returncode == 0
    public = bundle_round(engine, ROUND, tmp_path / "pub")
    assert _scan(public, secrets) == []
    proc = run_verify_script(public)
    assert proc.returncode == 0 and "NOT bound to the seed in draw version 1" in proc.stdout
