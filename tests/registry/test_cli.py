"""The ``shuangsui registry`` commands, through the real command line parser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from registry.cli import app

from .helpers import certificate_row, certificates_file, enterprise_row, enterprises_file

runner = CliRunner()


def test_generate_import_export_stats(db_url: str, tmp_path: Path) -> None:
    gen = runner.invoke(
        app,
        [
            "generate",
            "--enterprises",
            "200",
            "--inspectors",
            "10",
            "--seed",
            "5",
            "--out",
            str(tmp_path / "gen"),
        ],
    )
    assert gen.exit_code == 0, gen.output
    result = runner.invoke(app, ["import", "all", str(tmp_path / "gen")])
    assert result.exit_code == 0, result.output
    assert "enterprises: 200 rows, 200 inserted" in result.output
    again = runner.invoke(app, ["import", "enterprises", str(tmp_path / "gen/enterprises.csv")])
    assert again.exit_code == 0 and "0 inserted, 0 updated, 200 unchanged" in again.output

    out = runner.invoke(app, ["export", "--all", "--out", str(tmp_path / "export")])
    assert out.exit_code == 0, out.output
    one = runner.invoke(app, ["export", "certificates", "--out", str(tmp_path / "c.xlsx")])
    assert one.exit_code == 0, one.output
    back = runner.invoke(app, ["import", "certificates", str(tmp_path / "c.xlsx")])
    assert back.exit_code == 0 and " 0 inserted, 0 updated" in back.output

    stats = runner.invoke(app, ["stats", "--json"])
    assert stats.exit_code == 0, stats.output
    data = json.loads(stats.stdout)
    assert data["totals"]["enterprises"] == 200
    assert sum(p["count"] for p in data["enterprises_by_prefecture"]) == 200
    assert any(p["name"] == "福州市" for p in data["enterprises_by_prefecture"])
    assert sum(data["enterprises_by_risk_class"].values()) == 200
    assert {c["kind"] for c in data["certificates_by_kind_status"]} >= {"ccc"}
    table = runner.invoke(app, ["stats"])
    assert table.exit_code == 0 and "Enterprises by prefecture" in table.stdout


def test_bad_file_exits_2_and_lists_every_bad_row(db_url: str, tmp_path: Path) -> None:
    ents = enterprises_file(tmp_path / "e.csv", [enterprise_row(1)])
    assert runner.invoke(app, ["import", "enterprises", str(ents)]).exit_code == 0
    bad = certificates_file(
        tmp_path / "bad.csv",
        [
            certificate_row(1, 1),
            certificate_row(2, 1, status="暂停"),
            certificate_row(3, 1, kind="CCX"),
            certificate_row(4, 7),
        ],
    )
    result = runner.invoke(app, ["import", "certificates", str(bad)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert [line.split(": ")[0:2] for line in lines[:-1]] == [
        [f"{bad}:4", "kind"],
        [f"{bad}:5", "credit_code"],
    ]
    assert lines[-1] == "2 problem(s); nothing was imported"
    stats = json.loads(runner.invoke(app, ["stats", "--json"]).stdout)
    assert stats["totals"]["certificates"] == 0


def test_user_errors_exit_2(tmp_path: Path) -> None:
    assert runner.invoke(app, ["import", "widgets", str(tmp_path)]).exit_code == 2
    missing = runner.invoke(app, ["import", "enterprises", str(tmp_path / "none.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    folder = runner.invoke(app, ["import", "enterprises", str(tmp_path)])
    assert folder.exit_code == 2 and "a folder, not a file" in folder.stderr
    assert runner.invoke(app, ["export", "--out", str(tmp_path / "x.csv")]).exit_code == 2


def test_fresh_data_directory_just_works(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SHUANGSUI_HOME", str(tmp_path / "fresh"))
    result = runner.invoke(app, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["enterprises"] == 0
    assert (tmp_path / "fresh" / "shuangsui.db").exists()


def test_whitelisted_code_imports_only_with_the_whitelist(db_url: str, tmp_path: Path) -> None:
    good = enterprise_row(1)[0]
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    ents = enterprises_file(tmp_path / "e.csv", [enterprise_row(1, credit_code=wrong)])
    refused = runner.invoke(app, ["import", "enterprises", str(ents)])
    assert refused.exit_code == 2 and f"{ents}:2: credit_code: wrong check" in refused.stderr
    whitelist = tmp_path / "whitelist.csv"
    whitelist.write_text(
        f"credit_code,reason,added_on,approved_by\n{wrong},"
        "营业执照原件核实，代码由登记机关赋码错误,2026-01-05,法规科\n",
        encoding="utf-8",
    )
    accepted = runner.invoke(
        app, ["import", "enterprises", str(ents), "--uscc-whitelist", str(whitelist)]
    )
    assert accepted.exit_code == 0, accepted.output


def test_real_command_exit_codes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUANGSUI_")}
    env["SHUANGSUI_HOME"] = str(tmp_path / "home")
    bad = enterprises_file(tmp_path / "bad.csv", [enterprise_row(1, division_code="350000x")])
    run = subprocess.run(
        [sys.executable, "-m", "shuangsui", "registry", "import", "enterprises", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert f"{bad}:2: division_code: not a 6-digit division code" in run.stderr
