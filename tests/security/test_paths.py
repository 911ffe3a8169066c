"""A round key or a plan name from outside never reaches the filesystem outside its folder.

The attack: ``POST /rounds/adhoc`` with ``round_id="../../../ESC-rk"`` put the bundle outside the
data directory, and ``publish`` then overwrote and deleted files outside the site folder. Every
test lays the data directory three folders deep under ``srv/`` so that the escaped paths land
inside ``srv/`` and can be seen: the tree of ``srv/`` outside the data directory must not change.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from prefect.logging import disable_run_logger
from sqlmodel import Session

from api import tokens
from api.adhoc import run_adhoc
from api.app import create_app
from flows.plans import plans_due
from flows.rounds import adhoc_round, adhoc_round_key, monthly_round
from notifications.channels.file import FileChannel
from registry.export import export_all
from rounds import service
from rounds.models import Round, RoundKind
from rounds.plans import find_plan
from shuangsui import config
from shuangsui.config import Settings
from shuangsui.errors import PlanError, UserError
from shuangsui.keys import KEY_PATTERN, InvalidKey, check_plan_id, check_round_key, is_key
from shuangsui.paths import UnsafePath, child, inside
from tasks.rounds import write_bundle_task
from tests.findings.factories import ROUND, drawn_round
from tests.rounds.factories import plan_yaml, seed_registry
from tests.servers import serve_app
from website.site import publish

ROOT = Path(__file__).resolve().parents[2]
EVIL = "../../../ESC-rk"


# ------------------------------------------------------------------ the layout and its snapshot
@dataclass
class Layout:
    top: Path  # srv/: everything an escaped path could reach in these tests
    home: Path  # srv/var/lib/home: the data directory
    plans: Path  # srv/plans: SHUANGSUI_PLANS_DIR

    def snapshot(self) -> dict[str, str]:
        """Every file, folder and link under ``top`` but outside the data directory."""
        out = {}
        for path in sorted(self.top.rglob("*")):
            if path == self.home or self.home in path.parents:
                continue
            rel = path.relative_to(self.top).as_posix()
            if path.is_symlink():
                out[rel] = f"link {os.readlink(path)}"
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        return out


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Layout:
    top = tmp_path / "srv"
    home = top / "var" / "lib" / "home"
    plans = top / "plans"
    for d in (home, plans):
        d.mkdir(parents=True)
    (plans / "ccc.yaml").write_text(plan_yaml(), encoding="utf-8")
    (top / "elsewhere.yaml").write_text(plan_yaml(plan_id="ccc-2027-01"), encoding="utf-8")
    # what an escaped key would overwrite or delete: bundle, round page, open data
    for victim in ("var/ESC-rk/plan.json", "var/lib/ESC-rk/index.html", "var/lib/ESC-rk.csv"):
        (top / victim).parent.mkdir(parents=True, exist_ok=True)
        (top / victim).write_text("victim\n", encoding="utf-8")
    monkeypatch.setenv("SHUANGSUI_HOME", str(home))
    monkeypatch.setenv("SHUANGSUI_PLANS_DIR", str(plans))
    config.get_settings.cache_clear()
    return Layout(top, home, plans)


# ------------------------------------------------------------------ inside() and child()
def test_inside_keeps_paths_in_their_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    assert inside(root, "a", "b.txt") == root.resolve() / "a" / "b.txt"
    assert inside(root, "a/./c/../b.txt") == root.resolve() / "a" / "b.txt"
    assert inside(str(root), PurePosixPath("x")) == root.resolve() / "x"
    for parts in [
        ("..",),
        ("../root-sibling",),
        ("a", "..", "..", "x"),
        (EVIL,),
        ("/etc/passwd",),  # an absolute part replaces the root: refused
        ("a", "/tmp/x"),
        (tmp_path / "elsewhere",),
        ("",),  # the root itself: a name from data must name something inside
        (".",),
        ("a\x00b",),
    ]:
        with pytest.raises(UnsafePath, match="refused|NUL"):
            inside(root, *parts)


def test_inside_follows_symlinks_before_it_decides(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text("x", encoding="utf-8")
    (root / "out-dir").symlink_to(outside, target_is_directory=True)
    (root / "out-file").symlink_to(outside / "secret.txt")
    (root / "in-dir").symlink_to(root / "sub", target_is_directory=True)
    with pytest.raises(UnsafePath):
        inside(root, "out-dir", "new.txt")  # a write through a link to another folder
    with pytest.raises(UnsafePath):
        inside(root, "out-file")  # an unlink or overwrite of a file elsewhere
    assert inside(root, "in-dir", "f") == (root / "sub" / "f").resolve()
    # the root itself may be reached through a link (e.g. /srv -> /data/srv)
    (tmp_path / "root-link").symlink_to(root, target_is_directory=True)
    assert inside(tmp_path / "root-link", "sub", "f") == (root / "sub" / "f").resolve()


def test_child_is_one_name_directly_inside(tmp_path: Path) -> None:
    assert child(tmp_path, "rz-01-2026-12") == tmp_path.resolve() / "rz-01-2026-12"
    for name in ("a/b", ".", "..", "", "../x", "a\\b", EVIL):
        with pytest.raises(UnsafePath):
            child(tmp_path, name)


# ------------------------------------------------------------------ the grammar
def test_the_key_grammar() -> None:
    good = ["rz-01-2026-12", "ccc-2026-12", "a", "0", "a" * 64, "adhoc-ccc-2026-12-0123456789"]
    bad = ["", "-a", "A", "FJ-2026-12-TEST", "a_b", "a.b", "a/b", "..", EVIL, "a\n", "é",
           "a" * 65, " a", None, 12]  # fmt: skip
    assert all(is_key(k) for k in good)
    assert not any(is_key(k) for k in bad)
    with pytest.raises(InvalidKey) as err:
        check_round_key(EVIL, field="round_id")
    assert str(err.value).startswith("round_id: '../../../ESC-rk' is not a valid round key")
    assert KEY_PATTERN in str(err.value) and isinstance(err.value, UserError)


def test_the_bureaus_plans_and_their_keys_fit_the_grammar() -> None:
    files = sorted((ROOT / "plans").rglob("*.yaml"))
    assert files
    for path in files:
        plan_id = yaml.safe_load(path.read_text(encoding="utf-8"))["id"]
        assert check_plan_id(plan_id) == plan_id  # a scheduled round is keyed by its plan id
        assert is_key(adhoc_round_key(path.stem, "seed"))
    assert adhoc_round_key("ccc-2026-12", "x").startswith("adhoc-ccc-2026-12-")
    for stem in ("RZ_01 CCC", "年度计划", "-x-", "p" * 200):
        assert is_key(adhoc_round_key(stem, "x")), stem


# ------------------------------------------------------------------ the API, over real HTTP
@pytest.fixture
def live_api(engine: sa.Engine, layout: Layout) -> Iterator[tuple[str, str, list[Any]]]:
    calls: list[dict[str, Any]] = []

    def runner(params: dict[str, Any]) -> dict[str, Any]:  # the real runner, watched
        calls.append(params)
        return run_adhoc(params)

    app = create_app(engine=engine, settings=Settings(), adhoc_runner=runner)
    coordinator = tokens.create_coordinator(engine, "林科长", Settings().bureau_code)
    with serve_app(app, lifespan="auto") as url:
        yield url, coordinator, calls


def test_api_refuses_the_traversal_key_and_writes_nothing_outside(
    live_api: tuple[str, str, list[Any]], layout: Layout
) -> None:
    url, coordinator, calls = live_api
    before = layout.snapshot()
    auth = {"Authorization": f"Bearer {coordinator}"}
    with httpx.Client(base_url=url, headers=auth, timeout=10) as http:
        r = http.post(
            "/rounds/adhoc", json={"plan": "ccc-2026-12", "reason": "投诉", "round_id": EVIL}
        )
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert "body.round_id" in r.json()["detail"] and KEY_PATTERN in r.json()["detail"]
        for plan in ("../../elsewhere.yaml", "/etc/passwd", str(layout.top / "elsewhere.yaml"),
                     "2026-12/../../x.yaml", ".hidden.yaml"):  # fmt: skip
            r = http.post("/rounds/adhoc", json={"plan": plan, "reason": "投诉"})
            assert r.status_code == 422, (plan, r.text)
            assert "body.plan" in r.json()["detail"], plan
        # keys in the path are looked up in the database only: 404 or 422, never a file
        for path in ("/rounds/..%2F..%2F..%2FESC-rk/findings", "/rounds/../../etc/findings",
                     "/evidence/..%2F..%2Fshuangsui.db", "/evidence/" + "..%2F" * 30,
                     f"/findings/{'..%2F' * 3}ESC-rk/91350100MA0000000X"):  # fmt: skip
            r = http.get(path)
            assert r.status_code in (404, 422), (path, r.status_code, r.text)
        adhoc = http.get("/openapi.json").json()["components"]["schemas"]["AdhocRequest"]
        assert adhoc["properties"]["round_id"]["anyOf"][0]["pattern"] == KEY_PATTERN
    assert calls == []  # nothing was started
    assert layout.snapshot() == before
    assert not (layout.home / "bundles").exists()


# ------------------------------------------------------------------ the CLI, as a process
def _shuangsui(layout: Layout, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shuangsui", *args],
        cwd=layout.top,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_refuses_the_traversal_key_and_foreign_plans(
    db_url: str, engine: sa.Engine, layout: Layout
) -> None:
    seed_registry(engine)
    before = layout.snapshot()
    refused = [
        (("round", "adhoc", "--plan", "ccc-2026-12", "--reason", "投诉", "--requested-by", "林",
          "--round-id", EVIL), "--round-id: '../../../ESC-rk' is not a valid round key"),
        (("round", "adhoc", "--plan", "/etc/passwd", "--reason", "投诉", "--requested-by", "林"),
         "outside the plans directory"),
        (("round", "commit", str(layout.top / "elsewhere.yaml")), "outside the plans directory"),
        (("round", "commit", "plans/../elsewhere.yaml"), "outside the plans directory"),
    ]  # fmt: skip
    for args, message in refused:
        proc = _shuangsui(layout, *args)
        assert proc.returncode != 0, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (
            args,
            proc.stderr,
        )
        assert "Traceback" not in proc.stdout + proc.stderr
    assert layout.snapshot() == before
    with Session(engine) as s:
        assert s.exec(sa.select(Round.round_key)).all() == []  # type: ignore[call-overload]
    # the README's form still works: a path relative to the working directory, inside plans/
    proc = _shuangsui(layout, "round", "commit", "plans/ccc.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "round ccc-2026-12: committed" in proc.stdout


# ------------------------------------------------------------------ the service and the flows
def test_commit_round_is_the_last_gate(engine: sa.Engine, layout: Layout) -> None:
    seed_registry(engine)
    with pytest.raises(InvalidKey, match=r"^round_key: '\.\./\.\./\.\./ESC-rk'"):
        service.commit_round(engine=engine, plan_text=plan_yaml(), kind=RoundKind.adhoc,
                             round_key=EVIL, reason="投诉")  # fmt: skip
    with pytest.raises(InvalidKey, match=r"^plans/x\.yaml: id: '\.\./x' is not a valid plan id"):
        service.commit_round(
            engine=engine, plan_text=plan_yaml(plan_id='"../x"'), plan_source="plans/x.yaml"
        )
    with pytest.raises(InvalidKey, match="plan id"):
        service.commit_round(engine=engine, plan_text=plan_yaml(plan_id="RZ_01"))
    with Session(engine) as s:
        assert s.exec(sa.select(Round.round_key)).all() == []  # type: ignore[call-overload]


def test_flows_check_their_parameters_at_start(db_url: str, layout: Layout) -> None:
    with disable_run_logger():
        with pytest.raises(InvalidKey, match="^round_id: "):
            adhoc_round.fn(plan="ccc-2026-12", reason="投诉", requested_by="林", round_id=EVIL)
        with pytest.raises(PlanError, match="outside the plans directory"):
            adhoc_round.fn(plan="/etc/passwd", reason="投诉", requested_by="林")
        with pytest.raises(PlanError, match="outside the plans directory"):
            adhoc_round.fn(plan="../elsewhere.yaml", reason="投诉", requested_by="林")
        with pytest.raises(UserError, match="^period: "):
            monthly_round.fn(period="../../2026-12")


def test_a_plan_is_found_only_inside_the_plans_folder(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans = layout.plans
    (plans / "2026-12").mkdir()
    (plans / "2026-12" / "rz.yaml").write_text(plan_yaml(plan_id="rz-2026-12"), "utf-8")
    (plans / "README.md").write_text("not a plan", encoding="utf-8")
    monkeypatch.chdir(layout.top)
    found = plans.resolve() / "2026-12" / "rz.yaml"
    assert find_plan(plans, "rz-2026-12") == found  # by id
    assert find_plan(plans, "2026-12/rz.yaml") == found  # relative to the plans folder
    assert find_plan(plans, "plans/2026-12/rz.yaml") == found  # relative to the working dir
    assert find_plan(plans, str(found)) == found  # absolute, but inside
    with pytest.raises(PlanError, match=r"\.yaml or \.yml"):
        find_plan(plans, "README.md")
    with pytest.raises(PlanError, match="no plan with that id"):
        find_plan(plans, "ccc-2027-01")  # elsewhere.yaml's id: not looked up outside
    (plans / "link.yaml").symlink_to(layout.top / "elsewhere.yaml")
    for ref in ("../elsewhere.yaml", "elsewhere.yaml", str(layout.top / "elsewhere.yaml"),
                "link.yaml", "/etc/passwd", "plans/../elsewhere.yaml"):  # fmt: skip
        with pytest.raises(PlanError, match="outside the plans directory"):
            find_plan(plans, ref)
    with pytest.raises(PlanError, match="link.yaml: leads outside the plans directory"):
        find_plan(plans, "ccc-2027-01")  # a link out of the folder is an error, not a plan
    with pytest.raises(PlanError, match="link.yaml: leads outside the plans directory"):
        plans_due(plans, "2027-01")


# ------------------------------------------------------------------ crafted rows and manifests
def _insert_crafted_round(engine: sa.Engine) -> None:
    """What a hand-made row looks like: the drawn round copied under the traversal key."""
    table = Round.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        query = sa.select(table).where(table.c.round_key == ROUND)
        row = dict(conn.execute(query).mappings().one())
        conn.execute(sa.insert(table).values(row | {"round_key": EVIL}))


def test_publish_and_bundles_refuse_a_crafted_round_and_touch_nothing_outside(
    engine: sa.Engine, layout: Layout
) -> None:
    drawn_round(engine)
    _insert_crafted_round(engine)
    site = layout.home / "site"
    before = layout.snapshot()
    with pytest.raises(UnsafePath, match=r"ESC-rk.*refused.*inside rounds/"):
        publish(engine, site)
    with disable_run_logger(), pytest.raises(UnsafePath, match="inside bundles/"):
        write_bundle_task.fn(EVIL)
    assert layout.snapshot() == before
    assert (layout.top / "var/lib/ESC-rk/index.html").read_text("utf-8") == "victim\n"
    assert not (site / "rounds").exists()  # refused before writing any round


def test_publish_never_removes_files_outside_the_site(engine: sa.Engine, layout: Layout) -> None:
    """A manifest that lists files outside the site (hand-edited, or left by an old version
    that published a bad key): the stale-file cleanup refuses instead of deleting them."""
    site = layout.home / "site"
    site.mkdir()
    (site / ".manifest.json").write_text(
        json.dumps({
            "files": {f"rounds/{EVIL}/index.html": ["0" * 64, 7], f"data/{EVIL}.csv": ["0", 7]},
            "rounds": {EVIL: "0" * 64},
            "bundles": {},
        }),
        encoding="utf-8",
    )  # fmt: skip
    before = layout.snapshot()
    with pytest.raises(UnsafePath, match="refused"):
        publish(engine, site, bundles=False)
    assert layout.snapshot() == before
    for victim in ("var/lib/ESC-rk/index.html", "var/lib/ESC-rk.csv"):
        assert (layout.top / victim).read_text("utf-8") == "victim\n"


def test_outbox_and_export_paths_stay_inside(engine: sa.Engine, layout: Layout) -> None:
    before = layout.snapshot()
    outbox = FileChannel(layout.home / "outbox")
    with pytest.raises(UnsafePath):
        outbox.write("../../../ESC-rk/mail", ".eml", b"token")
    assert outbox.write("0" * 64, ".eml", b"ok").parent == (layout.home / "outbox").resolve()
    with Session(engine) as session, pytest.raises(UnsafePath):
        export_all(session=session, out_dir=layout.home / "export", suffix="/../../../../x.csv")
    assert layout.snapshot() == before
