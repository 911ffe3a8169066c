"""Markdown summaries a coordinator reads in the Prefect UI."""

from __future__ import annotations

import re
from typing import Any

from prefect.artifacts import create_markdown_artifact


def artifact_key(*parts: str) -> str:
    """Prefect accepts lowercase letters, digits and dashes only."""
    key = "-".join(parts).lower()
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", key)).strip("-")


def round_markdown(summary: dict[str, Any], bundle_path: str | None = None) -> str:
    lines = [
        f"# Round `{summary['round_key']}` — {summary['status']}",
        "",
        f"- plan: `{summary['plan_id']}` (hash `{summary['plan_hash']}`)",
        f"- kind: {summary['kind']}"
        + (f", requested by {summary['requested_by']}" if summary.get("requested_by") else "")
        + (f", reason: {summary['reason']}" if summary.get("reason") else ""),
        f"- frame commitment: `{summary['frame_commitment']}` "
        f"({summary['frame_size']} enterprises)",
        f"- frame Merkle root: `{summary['frame_merkle_root']}`",
        f"- inspector frame: `{summary['inspector_commitment']}` "
        f"({summary['inspector_frame_size']} inspectors)",
        f"- entropy named at commitment: `{summary['entropy_plan']}`",
    ]
    if summary.get("public_inspector_commitment"):
        lines.insert(-1, f"- public (pseudonymous) inspectors: "
                         f"`{summary['public_inspector_commitment']}`, recusals "
                         f"`{summary['public_recused_commitment']}` (draw version 2)")  # fmt: skip
    if summary.get("entropy"):
        lines.append(f"- entropy recorded: `{summary['entropy']}`")
    if summary.get("seed"):
        lines.append(f"- seed: `{summary['seed']}`")
    if summary.get("waiting"):
        lines += ["", f"**Waiting:** {summary['waiting']}"]
    if summary.get("last_error"):
        lines += ["", f"**Failed:** {summary['last_error']}"]
    counts = summary.get("counts") or {}
    if counts:
        lines += ["", "| stratum | rate | eligible | excluded | targeted | drawn |",
                  "|---|---|---:|---:|---:|---:|"]  # fmt: skip
        for stratum, c in sorted(counts.items()):
            lines.append(
                f"| {stratum} | {c['rate']} | {c['eligible']} | {c['excluded']} | "
                f"{c['targeted']} | {c['drawn']} |"
            )
    if bundle_path:
        lines += ["", f"Verification bundle: `{bundle_path}` — check it with "
                  f"`python3 -I -S verify.py {bundle_path}`"]  # fmt: skip
    return "\n".join(lines) + "\n"


def publish_round_artifact(summary: dict[str, Any], bundle_path: str | None = None) -> None:
    create_markdown_artifact(
        key=artifact_key("round", summary["round_key"]),
        markdown=round_markdown(summary, bundle_path),
        description=f"round {summary['round_key']}",
    )


def publish_held_artifact(held: dict[str, Any]) -> None:
    """Why a round was not committed, with the preview, where the coordinator looks first."""
    lines = [f"# Round `{held['round_key']}` — held, not committed", "", "**Reasons:**", ""]
    lines += [f"- {r}" for r in held["reasons"]]
    lines += ["", "```", *held["preview"], "```", "",
              "The round key is still free: import the registry or fix the plan, and a run "
              "scheduled for it (below) or a commit by hand commits it; or commit with "
              "`--accept 'REASON'` (audited) to take it as it stands."]  # fmt: skip
    if held.get("retry"):
        lines += ["", f"Next run: {held['retry']}."]
    create_markdown_artifact(
        key=artifact_key("round", held["round_key"]),
        markdown="\n".join(lines) + "\n",
        description=f"round {held['round_key']} held",
    )
