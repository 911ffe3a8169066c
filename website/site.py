"""Publishing the static site into a directory, incrementally.

``.manifest.json`` in the output holds the SHA-256 and size of every file written and a digest
of each round's public content. A round whose digest has not changed is not rendered again; any
other file is written only when its bytes change, atomically (``shuangsui.files``). A
manifest that cannot be read (a run of an earlier version killed while writing it) counts as
absent: the next publish is a full one. Partial files a killed run left are removed first.
After the files are in place, the versions they show are recorded as published.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, insert, select, update
from sqlmodel import Session

from findings.events import ResultPublished
from findings.models import PublishedResult
from rounds import audit, disclosure
from rounds.models import Round
from rounds.notice import commitment_bytes
from shuangsui.clock import local_label
from shuangsui.config import Settings, get_settings
from shuangsui.errors import IntegrityError
from shuangsui.files import remove_leftovers, write_atomic
from shuangsui.paths import child, inside
from website.model import PublicRound, Site
from website.records import load_site
from website.render import (
    commitment_paths,
    render_aggregates,
    render_catalog,
    render_commitment,
    render_round,
    round_paths,
)

logger = logging.getLogger(__name__)

MANIFEST = ".manifest.json"

# Each returns {site-relative path: bytes} of more public files, written with the rest: the
# leads' counts by source and outcome (``data/leads.json``) register here (leads/hooks.py).
extra_file_hooks: list[Callable[[Engine], dict[str, bytes]]] = []


@dataclass
class PublishReport:
    out: Path
    rounds: int = 0
    results: int = 0
    written: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    newly_published: int = 0
    revealed: list[str] = field(default_factory=list)  # rounds whose list went public now


class _Output:
    def __init__(self, out: Path):
        self.out = out
        old = _read_manifest(out / MANIFEST)
        self.files: dict[str, list] = old.get("files", {})
        self.rounds: dict[str, str] = old.get("rounds", {})
        self.bundles: dict[str, str] = old.get("bundles", {})

    def has(self, rel: str) -> bool:
        return rel in self.files and (self.out / rel).is_file()

    def write(self, rel: str, data: bytes, report: PublishReport) -> None:
        digest = hashlib.sha256(data).hexdigest()
        target = inside(self.out, rel)
        if self.files.get(rel, [None])[0] == digest and target.is_file():
            report.unchanged += 1
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
        self.files[rel] = [digest, len(data)]
        report.written.append(rel)

    def remove(self, rel: str, report: PublishReport) -> None:
        inside(self.out, rel).unlink(missing_ok=True)
        self.files.pop(rel, None)
        report.removed.append(rel)

    def save(self) -> str:
        body = json.dumps(
            {
                "files": self.files,
                "rounds": self.rounds,
                "bundles": self.bundles,
            },
            sort_keys=True,
            indent=0,
        ).encode()
        write_atomic(self.out / MANIFEST, body)
        return hashlib.sha256(body).hexdigest()


def _read_manifest(path: Path) -> dict:
    """The previous run's manifest; ``{}`` (a full publish) if absent, truncated or not ours."""
    if not path.is_file():
        return {}
    try:
        old = json.loads(path.read_bytes())
        if isinstance(old, dict) and all(
            isinstance(old.get(k, {}), dict) for k in ("files", "rounds", "bundles")
        ):
            return old
        problem = "not a shuangsui manifest"
    except (ValueError, OSError) as exc:
        problem = str(exc) or type(exc).__name__
    logger.warning("%s is unreadable (%s): publishing every file again", path, problem)
    return {}


def _bundle(engine: Engine, key: str, output: _Output, report: PublishReport) -> None:
    """The round's PUBLIC bundle (inspectors under pseudonyms only); any file of an earlier
    bundle that the public one does not have (a full bundle's inspector frame) is removed."""
    from rounds.bundle import bundle_round

    folder = f"rounds/{key}/bundle/"
    with tempfile.TemporaryDirectory(prefix="bundle-") as tmp:
        path = bundle_round(engine, key, Path(tmp), audience="public", scratch=True)
        names = sorted(f.name for f in path.iterdir())
        for name in names:
            output.write(folder + name, (path / name).read_bytes(), report)
    for rel in sorted(output.files):
        if rel.startswith(folder) and rel[len(folder) :] not in names:
            output.remove(rel, report)
    on_disk = output.out / "rounds" / key / "bundle"
    for stale in sorted(on_disk.iterdir()):  # also files written before the manifest knew them
        if stale.is_file() and stale.name not in names:
            output.remove(folder + stale.name, report)


def _commitment(
    site: Site,
    rnd: PublicRound,
    output: _Output,
    report: PublishReport,
    stamps: dict[str, tuple[datetime, bool]],
    now: datetime,
) -> None:
    """The round's commitment file and page, written once and never rewritten: a round
    committed but not yet drawn is published so the commitment is public before the entropy
    exists, and whatever happens to the round afterwards these bytes stay as they were."""
    json_rel, html_rel = commitment_paths(rnd.round_key)
    target = output.out / json_rel
    if target.is_file() and target.read_bytes() != commitment_bytes(rnd.commitment):
        raise IntegrityError(
            f"round {rnd.round_key}: the database's commitment differs from the one "
            f"published in {json_rel}; the published commitment is never rewritten"
        )
    if output.has(json_rel) and output.has(html_rel):
        return
    at, before_draw = stamps.setdefault(rnd.round_key, (now, rnd.status == "committed"))
    # the same bytes as any copy already there (checked above), so "written" changes nothing
    for rel, data in render_commitment(site, rnd, local_label(at), before_draw=before_draw).items():
        output.write(rel, data, report)


def _withdraw_bundle(key: str, output: _Output, report: PublishReport) -> None:
    """A bundle on the site of a round not revealed (a site published before disclosure
    rules existed) leaves it: the drawn list is not public yet."""
    folder = f"rounds/{key}/bundle/"
    for rel in sorted(output.files):
        if rel.startswith(folder):
            output.remove(rel, report)
    shutil.rmtree(child(output.out / "rounds", key) / "bundle", ignore_errors=True)


BUNDLE_AUDIENCE = "public"  # a site manifest entry "public:<seed>"; a bare seed = older bundle


def publish(
    engine: Engine,
    out: Path,
    *,
    settings: Settings | None = None,
    bundles: bool = True,
    record: bool = True,
    now: datetime | None = None,
) -> PublishReport:
    """Render the public site into ``out`` as of ``now`` (default: the disclosure clock);
    only changed files are written."""
    settings = settings or get_settings()
    now = now or disclosure.now()
    out.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out)
    site, unpublished = load_site(engine, settings, now=now)
    output = _Output(out)
    report = PublishReport(out, len(site.rounds), sum(len(r.results) for r in site.rounds))
    keys = {r.round_key for r in site.rounds}
    for key in sorted(keys):  # a round's files are named by its key: refuse before writing any
        child(out / "rounds", key)
    stamps = commitment_stamps(engine)
    first_time = {k for k in keys if k not in stamps}
    for i, rnd in enumerate(site.rounds):
        _commitment(site, rnd, output, report, stamps, now)
        if rnd.round_key in stamps:  # when its commitment first appeared, this run included
            rnd = site.rounds[i] = replace(
                rnd, commitment_first_published=local_label(stamps[rnd.round_key][0])
            )
        digest = rnd.digest()
        if output.rounds.get(rnd.round_key) != digest or not all(
            output.has(p) for p in round_paths(rnd.round_key)
        ):
            for rel, data in render_round(site, rnd).items():
                output.write(rel, data, report)
            output.rounds[rnd.round_key] = digest
        manifest = f"rounds/{rnd.round_key}/bundle/MANIFEST.sha256"
        stamp = f"{BUNDLE_AUDIENCE}:{rnd.seed}"
        if (
            bundles
            and rnd.bundled
            and (output.bundles.get(rnd.round_key) != stamp or not output.has(manifest))
        ):
            _bundle(engine, rnd.round_key, output, report)
            output.bundles[rnd.round_key] = stamp
        elif not rnd.bundled and output.bundles.pop(rnd.round_key, None) is not None:
            _withdraw_bundle(rnd.round_key, output, report)
    for rel, data in render_aggregates(site).items():
        output.write(rel, data, report)
    extra = {rel: data for hook in extra_file_hooks for rel, data in hook(engine).items()}
    for rel, data in sorted(extra.items()):
        output.write(rel, data, report)
    for rel in sorted(output.files):
        parts = rel.split("/")
        gone = (parts[0] == "rounds" and parts[1] not in keys) or (
            parts[0] == "data"
            and rel.endswith((".csv", ".json"))
            and parts[1].rsplit(".", 1)[0] not in keys | {"results", "rounds", "search-index"}
            and rel not in extra
        )
        if gone:
            output.remove(rel, report)
    for key in set(output.rounds) - keys:
        output.rounds.pop(key)
        output.bundles.pop(key, None)
        shutil.rmtree(child(out / "rounds", key), ignore_errors=True)
    for rel, data in render_catalog(
        site, {k: (v[0], v[1]) for k, v in output.files.items()}
    ).items():
        output.write(rel, data, report)
    site_digest = output.save()
    if record:
        _record_stamps(engine, {k: stamps[k] for k in first_time if k in stamps})
        report.revealed = _record_reveals(engine, site, now)
    if record and unpublished:
        _record(engine, unpublished, site_digest)
        report.newly_published = len(unpublished)
    logger.info(
        "published %d round(s), %d result(s) to %s: %d file(s) written, %d unchanged",
        report.rounds,
        report.results,
        out,
        len(report.written),
        report.unchanged,
    )
    return report


def commitment_stamps(engine: Engine) -> dict[str, tuple[datetime, bool]]:
    """When each round's commitment was first published, and whether before its draw."""
    table = Round.__table__  # type: ignore[attr-defined]
    query = select(
        table.c.round_key,
        table.c.commitment_published_at,
        table.c.commitment_published_before_draw,
    ).where(table.c.commitment_published_at.is_not(None))
    with engine.connect() as conn:
        return {key: (at, bool(before)) for key, at, before in conn.execute(query)}


def _record_stamps(engine: Engine, stamps: dict[str, tuple[datetime, bool]]) -> None:
    """Set the first-published moment of the rounds whose commitment this run published first
    (only where none is set: a concurrent publish that set one keeps its own)."""
    if not stamps:
        return
    table = Round.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        for key, (at, before) in sorted(stamps.items()):
            conn.execute(
                update(table)
                .where(table.c.round_key == key, table.c.commitment_published_at.is_(None))
                .values(commitment_published_at=at, commitment_published_before_draw=before)
            )


def _record_reveals(engine: Engine, site: Site, now: datetime) -> list[str]:
    """Record, once, each round this run showed revealed for the first time, running the
    reveal hooks (the partner feed's round record) in the same transaction. A concurrent
    publish that recorded one first wins; this run then records nothing for it."""
    table = Round.__table__  # type: ignore[attr-defined]
    shown = {r.round_key: r.disclosure for r in site.rounds if r.revealed}
    if not shown:
        return []
    query = select(table.c.round_key).where(
        table.c.revealed_at.is_(None), table.c.status.in_(disclosure.REVEALABLE)
    )
    with engine.connect() as conn:
        pending = sorted(set(conn.scalars(query)) & set(shown))
    for _ in range(10):
        with Session(engine) as session:
            won = [
                key
                for key in pending
                if disclosure.reveal(session, key, at=now, disclosure=shown[key], by="publish")
            ]
            try:
                session.commit()
            except Exception as exc:  # the audit head moved, or a concurrent publish won
                session.rollback()
                logger.warning("recording the reveal failed (%s); retrying", exc)
                continue
        for key in won:
            logger.info("round %s revealed: its drawn list is public", key)
        return won
    raise RuntimeError("could not record the reveal: too much contention")


# Called with (session, [(version_id, finding_id), ...]) inside the transaction that records a
# publication: the partner exchange shares each newly published result in the same commit.
after_record_hooks: list[Callable[[Session, list[tuple[int, int]]], None]] = []


def _record(engine: Engine, versions: list[tuple[int, int]], site_digest: str) -> None:
    now = datetime.now(UTC)
    rows = [{"version_id": v, "finding_id": f, "published_at": now} for v, f in versions]
    for _ in range(10):
        with Session(engine) as session:
            for start in range(0, len(rows), 5000):
                session.execute(insert(PublishedResult), rows[start : start + 5000])
            for hook in after_record_hooks:
                hook(session, versions)
            audit.add_to(session, None, ResultPublished(len(rows), site_digest))
            try:
                session.commit()
                return
            except Exception as exc:  # the audit head moved, or a concurrent publish won
                session.rollback()
                logger.warning("recording publication failed (%s); retrying", exc)
    raise RuntimeError("could not record the publication: too much contention")
