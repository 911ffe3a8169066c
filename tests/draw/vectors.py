"""Committed test vectors: loading, running, and (explicitly) regenerating them.

Regenerate ONLY for a deliberate, announced breaking change to the draw algorithm:
``python -m tests.draw.vectors --write``. Every published draw depends on these outputs.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from draw.core import DrawInputs, draw
from draw.frame import EnterpriseUnit, InspectorUnit, build_enterprise_frame
from draw.plan import parse_plan

from .factories import WITNESS, credit_code, enterprise_rows, inspector_rows, plan_dict

VECTOR_DIR = Path(__file__).resolve().parents[1] / "vectors"
VERIFY_PATH = Path(__file__).resolve().parents[2] / "draw" / "verify_bundle.py"


def load_reference() -> ModuleType:
    """draw/verify_bundle.py imported from its path (it is not part of the package API)."""
    spec = importlib.util.spec_from_file_location("shuangsui_verify_reference", VERIFY_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inputs_from_json(doc: dict[str, Any]) -> DrawInputs:
    return DrawInputs(
        round_key=doc["round_key"],
        plan=doc["plan"],
        enterprises=[EnterpriseUnit.from_json(e) for e in doc["enterprises"]],
        inspectors=[InspectorUnit.from_json(i) for i in doc["inspectors"]],
        entropy=doc["entropy"],
        conflicts=frozenset(tuple(p) for p in doc["conflicts"]),
        recent_pairs=frozenset(tuple(p) for p in doc["recent"]),
    )


def inputs_to_json(inputs: DrawInputs) -> dict[str, Any]:
    return {
        "round_key": inputs.round_key,
        "plan": dict(inputs.plan),
        "enterprises": [
            u.to_json() for u in sorted(inputs.enterprises, key=lambda u: u.credit_code)
        ],
        "inspectors": [
            u.to_json() for u in sorted(inputs.inspectors, key=lambda u: u.inspector_id)
        ],
        "conflicts": [list(p) for p in sorted(inputs.conflicts)],
        "recent": [list(p) for p in sorted(inputs.recent_pairs)],
        "entropy": [dict(r) for r in inputs.entropy],
    }


def run_core(doc: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(draw(inputs_from_json(doc)).to_json()))


def run_reference(doc: dict[str, Any], ref: ModuleType) -> dict[str, Any]:
    return ref.reference_draw(
        doc["round_key"], doc["plan"], doc["enterprises"], doc["inspectors"],
        doc["conflicts"], doc["recent"], doc["entropy"],
    )  # fmt: skip


# ------------------------------------------------------------------ vector definitions
def _beacon(round_no: int) -> dict[str, Any]:
    sig = hashlib.sha512(f"synthetic drand signature {round_no}".encode()).hexdigest()[:192]
    return {
        "source": "beacon",
        "url": "https://api.drand.sh",
        "chain_hash": "52db9ba70e0cc0f6eaf7803dd07447a1f5477735fd3f661792ba94600c84e971",
        "round": round_no,
        "randomness": hashlib.sha256(bytes.fromhex(sig)).hexdigest(),
        "signature": sig,
    }


def _reveal(secret: str) -> dict[str, Any]:
    return {
        "source": "commit-reveal",
        "commitment": hashlib.sha256(secret.encode()).hexdigest(),
        "secret": secret,
        "committed_in": "round FJ-2026-12 announcement, 2026-11-30",
    }


def _inputs(plan: dict, rows: list[dict], insp: list[dict], **kw: Any) -> DrawInputs:
    from draw.frame import build_inspector_frame

    canonical = parse_plan(plan)
    return DrawInputs(
        round_key=kw.get("round_key", "FJ-2026-12-TEST"),
        plan=canonical,
        enterprises=build_enterprise_frame(rows, canonical, kw.get("exclusions")),
        inspectors=build_inspector_frame(insp),
        entropy=kw.get("entropy", [WITNESS]),
        conflicts=frozenset(kw.get("conflicts", ())),
        recent_pairs=frozenset(kw.get("recent", ())),
    )


def definitions() -> dict[str, tuple[str, DrawInputs]]:
    tiny_rows = enterprise_rows(10, seed=7)
    for i, row in enumerate(tiny_rows):
        row["risk_class"] = "A" if i < 4 else "B"
    tiny_plan = plan_dict(strata={"by": ["risk_class"], "rates": {"A": "25%", "B": "50%"}})
    weighted_plan = plan_dict(
        population={"directed": True, "risk_classes": ["C", "D"]},
        strata={"by": ["division"], "rates": {"*": "20%"}, "weights": {"C": 1, "D": 3}},
    )
    wrows = enterprise_rows(60, seed=11)
    for row in wrows:
        row["division_code"] = "350102"
        row["credit_code"] = credit_code("350102", int(row["credit_code"][8:17]))
        row["risk_class"] = "C" if int(row["credit_code"][-3:-1], 36) % 3 else "D"
    trows = enterprise_rows(30, seed=13)
    trows[3]["abnormal_listed"] = True
    targeted_plan = plan_dict(
        strata={"by": ["risk_class"], "rates": {"*": "40%"}, "total_cap": 7},
        targeted={
            "include_abnormal_listed": True,
            "list": [
                {"credit_code": trows[5]["credit_code"], "reason": "投诉举报线索 FJ-2026-1107"}
            ],
        },
    )
    excl = {trows[7]["credit_code"]: "已于2026-03抽查 (FJ-2026-03-CCC)",
            trows[5]["credit_code"]: "已于2026-05抽查 (FJ-2026-05-CCC)"}  # fmt: skip
    team_rows = enterprise_rows(12, seed=17)
    team_insp = inspector_rows(11, seed=19)
    team_insp[0]["active"] = False
    team_insp[1]["credential_until"] = "2026-12-15"
    team_insp[2]["leaves"] = [["2026-12-20", "2027-01-05"]]
    team_insp[3]["expertise"] = ["ORGANIC"]
    team_insp[4]["division_code"] = team_rows[0]["division_code"][:4] + "00"
    team_plan = plan_dict(teams={"size": 2, "workload_cap": 4, "recuse_same_division": True,
                                 "recuse_recent_rounds": 2})  # fmt: skip
    conflicts = {
        ("FJ-0005" if i < 6 else "FJ-0006", r["credit_code"]) for i, r in enumerate(team_rows)
    }
    recent = {("FJ-0007", r["credit_code"]) for r in team_rows[::2]}
    team_plan["strata"]["rates"] = {"*": "100%"}
    infeasible_insp = inspector_rows(3, seed=23)
    infeasible_insp[0]["leaves"] = [["2026-12-10", "2026-12-11"]]
    large_plan = plan_dict(strata={"by": ["division", "risk_class"]}, teams={"workload_cap": 8})
    return {
        "tiny-uniform": ("10 enterprises, strata A (4 @ 25%) and B (6 @ 50%): 1 + 3 drawn",
                         _inputs(tiny_plan, tiny_rows, inspector_rows(4))),
        "weighted": ("定向 C/D, one stratum, sequential Poisson weights C=1 D=3",
                     _inputs(weighted_plan, wrows, inspector_rows(10),
                             entropy=[_beacon(4_200_000)])),
        "targeted": ("targeted (listed + 经营异常名录), excluded, total_cap trimming",
                     _inputs(targeted_plan, trows, inspector_rows(8), exclusions=excl,
                             entropy=[WITNESS, _reveal("晋江-2026-12-密钥")])),
        "teams": ("every recusal rule: inactive, credential, leave, expertise, conflict, "
                  "same division, recent rounds, workload cap",
                  _inputs(team_plan, team_rows, team_insp, conflicts=conflicts, recent=recent)),
        "large-2000": ("2,000 enterprises, division x risk class, beacon + commit-reveal",
                       _inputs(large_plan, enterprise_rows(2000, seed=29), inspector_rows(60),
                               entropy=[_beacon(4_200_001), _reveal("s3cret-2000")])),
        "infeasible": ("3 inspectors, 1 on leave: no team of 2 for any enterprise after the first",
                       _inputs(plan_dict(teams={"workload_cap": 1}), enterprise_rows(40, seed=31),
                               infeasible_insp)),
    }  # fmt: skip


def build_vector(name: str, description: str, inputs: DrawInputs) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": name, "description": description}
    doc["inputs"] = inputs_to_json(inputs)
    try:
        doc["expected"] = json.loads(json.dumps(draw(inputs).to_json()))
    except ValueError as exc:
        doc["expected_error"] = str(exc)
    return doc


def write_all() -> None:
    for name, (description, inputs) in definitions().items():
        doc = build_vector(name, description, inputs)
        text = json.dumps(doc, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        (VECTOR_DIR / f"{name}.json").write_text(text, encoding="utf-8")
        print(f"wrote {name}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.draw.vectors --write   (a BREAKING change)")
    write_all()
