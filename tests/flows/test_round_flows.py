"""The round flows under the session's Prefect harness: same path for monthly and ad hoc,
re-runs continue where they stopped, artifacts tell the coordinator what happened."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client
from sqlmodel import Session, select

from flows.rounds import adhoc_round, draw_round, monthly_round
from rounds.models import Assignment, AuditEvent, Selection
from shuangsui import config
from shuangsui.errors import DrawAlreadyMade
from tests.rounds.factories import plan_yaml, seed_registry

DIGITS = "27182818284590452353602874"


@pytest.fixture
def plans_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "plans"
    d.mkdir()
    (d / "ccc-2026-12.yaml").write_text(plan_yaml(), encoding="utf-8")
    (d / "ccc-2027-01.yaml").write_text(
        plan_yaml(plan_id="ccc-2027-01", period="2027-01"), encoding="utf-8"
    )
    monkeypatch.setenv("SHUANGSUI_PLANS_DIR", str(d))
    config.get_settings.cache_clear()
    return d


def _counts(engine: sa.Engine) -> tuple[int, int, int]:
    with Session(engine) as s:
        return (
            len(s.exec(select(Selection)).all()),
            len(s.exec(select(Assignment)).all()),
            len(s.exec(select(AuditEvent).where(AuditEvent.event == "DrawMade")).all()),
        )


@pytest.mark.usefixtures("prefect_harness")
def test_monthly_round_waits_for_the_ceremony_then_draws_once(
    engine: sa.Engine, plans_dir: Path
) -> None:
    seed_registry(engine)
    first = monthly_round(period="2026-12")
    assert [r["round_key"] for r in first] == ["ccc-2026-12"]
    assert first[0]["status"] == "committed"
    assert "witness digits" in first[0]["waiting"]
    assert _counts(engine) == (0, 0, 0)

    second = monthly_round(period="2026-12", witness_digits=DIGITS, witnesses=["王五", "赵六"])
    assert second[0]["status"] == "drawn"
    assert second[0]["frame_commitment"] == first[0]["frame_commitment"]
    drawn = _counts(engine)
    assert drawn[0] > 0 and drawn[1] == 2 * drawn[0] and drawn[2] == 1

    bundle = Path(second[0]["bundle"])
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(bundle / "verify.py"), str(bundle)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr

    third = monthly_round(period="2026-12", witness_digits="1" * 30, witnesses=["x"])
    assert third[0]["seed"] == second[0]["seed"]
    assert "was not used" in third[0]["refused"]
    assert _counts(engine) == drawn


@pytest.mark.usefixtures("prefect_harness")
def test_adhoc_round_refuses_digits_before_commitment_and_records_reason(
    engine: sa.Engine, plans_dir: Path
) -> None:
    seed_registry(engine)
    from shuangsui.errors import UserError

    with pytest.raises(UserError, match="after the round's commitment"):
        adhoc_round(plan="ccc-2026-12", reason="投诉", requested_by="林科长", witness_digits=DIGITS)
    committed = adhoc_round(
        plan="ccc-2026-12", reason="投诉举报集中", requested_by="林科长", rates={"D": "100%"}
    )
    key = committed["round_key"]
    assert key.startswith("adhoc-ccc-2026-12-") and committed["status"] == "committed"
    drawn = adhoc_round(
        plan="ccc-2026-12",
        reason="投诉举报集中",
        requested_by="林科长",
        round_id=key,
        witness_digits=DIGITS,
        witnesses=["王五"],
    )
    assert drawn["status"] == "drawn" and drawn["reason"] == "投诉举报集中"
    assert drawn["requested_by"] == "林科长"


@pytest.mark.usefixtures("prefect_harness")
def test_an_adhoc_rounds_ceremony_draws_it_as_committed_with_its_cap(
    engine: sa.Engine, plans_dir: Path
) -> None:
    """The ceremony's call as ``POST /rounds/adhoc`` documents it (the round's key, plan, reason
    and digits) for a round committed with a cap: drawn as committed, within the cap. It was
    committed again without the cap and refused ("committed with other arguments"), in the
    background after the API's 202. Another plan than the round's is refused, nothing drawn."""
    from shuangsui.errors import UserError

    seed_registry(engine)
    committed = adhoc_round(plan="ccc-2026-12", reason="投诉", requested_by="林科长", total_cap=2)
    key = committed["round_key"]
    ask = {"reason": "投诉", "requested_by": "林科长", "round_id": key,
           "witness_digits": DIGITS, "witnesses": ["王五"]}  # fmt: skip
    with pytest.raises(UserError, match="committed with other arguments.*id: committed"):
        adhoc_round(plan="ccc-2027-01", **ask)
    assert _counts(engine)[2] == 0
    drawn = adhoc_round(plan="ccc-2026-12", **ask)
    assert drawn["status"] == "drawn" and drawn["round_key"] == key
    assert 0 < _counts(engine)[0] <= 2 and _counts(engine)[2] == 1


@pytest.mark.usefixtures("prefect_harness")
def test_round_artifact_tells_the_coordinator(engine: sa.Engine, plans_dir: Path) -> None:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    seed_registry(engine)
    monthly_round(period="2027-01", witness_digits=DIGITS, witnesses=["王五"])
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["round-ccc-2027-01"]))
        )
    assert found, "no round artifact"
    text = str(found[0].data)
    assert "frame commitment" in text and "seed" in text and "verify.py" in text


@pytest.mark.usefixtures("prefect_harness")
def test_drawn_round_notices_are_delivered_once_to_the_file_outbox(
    engine: sa.Engine, plans_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.notifications import dispatch_notifications

    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    seed_registry(engine)
    drawn = monthly_round(period="2026-12", witness_digits=DIGITS, witnesses=["王五"])
    _selected, assignments, _ = _counts(engine)
    first = dispatch_notifications()
    # one notice per (inspector, enterprise) assignment plus the coordinator's round summary
    assert first["report"]["sent"] == assignments + 1
    assert first["counts"] == {"pending": 0, "failed": 0, "sent": assignments + 1, "dead": 0}
    outbox = Path(config.get_settings().home) / "outbox"
    files = list(outbox.rglob("*.*"))
    assert len(files) == assignments + 1
    again = dispatch_notifications()
    assert again["report"]["claimed"] == 0
    assert len(list(outbox.rglob("*.*"))) == len(files)
    key = drawn[0]["round_key"]
    assert sum(key in p.read_text(encoding="utf-8") for p in files) == len(files)


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("period", ["2026-13", "２０２６-12", "2026-12\n"])
def test_monthly_round_refuses_a_period_not_written_yyyy_mm(
    engine: sa.Engine, plans_dir: Path, period: str
) -> None:
    from shuangsui.errors import UserError

    with pytest.raises(UserError, match=r"^period: .* is not a month written YYYY-MM"):
        monthly_round(period=period)
    assert _counts(engine) == (0, 0, 0)


def test_a_plan_saved_as_gbk_is_named_not_a_traceback(plans_dir: Path) -> None:
    """The monthly round reads every plan of the folder to find those due: a file an editor
    saved as GBK is named, with what to do, instead of a UnicodeDecodeError."""
    from flows.plans import plans_due
    from shuangsui.errors import PlanError

    gbk = plans_dir / "gbk.yaml"
    gbk.write_bytes(plan_yaml(plan_id="gbk-2026-12").replace("title:", "title: 福州").encode("gbk"))
    with pytest.raises(PlanError, match=r"gbk\.yaml: not UTF-8 text .* save the plan as UTF-8"):
        plans_due(plans_dir, "2026-12")


@pytest.mark.usefixtures("prefect_harness")
def test_draw_round_draws_one_committed_round_with_its_ceremony_and_refuses_digits_after(
    engine: sa.Engine, plans_dir: Path
) -> None:
    seed_registry(engine)
    (committed,) = monthly_round(period="2026-12")
    assert committed["status"] == "committed"
    drawn = draw_round(round_key="ccc-2026-12", requested_by="林科长", witness_digits=DIGITS,
                       witnesses=["王五", "赵六"])  # fmt: skip
    assert drawn["status"] == "drawn"
    assert drawn["frame_commitment"] == committed["frame_commitment"]
    counts = _counts(engine)
    assert counts[0] > 0 and counts[2] == 1
    bundle = Path(drawn["bundle"])
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(bundle / "verify.py"), str(bundle)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the same seed as monthly-round would have drawn with these digits: one draw path
    again = monthly_round(period="2026-12", witness_digits=DIGITS, witnesses=["王五", "赵六"])
    assert again[0]["seed"] == drawn["seed"] and "refused" not in again[0]
    with pytest.raises(DrawAlreadyMade, match="was not used"):
        draw_round(round_key="ccc-2026-12", requested_by="林科长", witness_digits="1" * 30,
                   witnesses=["x"])  # fmt: skip
    assert _counts(engine) == counts
