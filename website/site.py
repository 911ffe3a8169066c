"""Publishing the static site into a directory, incrementally.

``.manifest.json`` in the output holds the SHA-256 and size of every file written, a digest
of each round's public content, and per round the fingerprint of its inputs and the SHA-256 of
its part (``website.inputs``, ``website.parts``). ``.publish-state.json``, written last, says
which manifest a publish finished with (every version it showed recorded as published) and the
fingerprint of the whole site then.

A publish first reads the rounds' rows and fingerprints the site: the same as the finished
publish's, with every file in place, and nothing is read or written. Otherwise only the rounds
whose fingerprint changed are read (a round whose only change is findings added since: those
findings' results alone, ``website.inputs.written_since``, the others taken from its files),
and of those only the results whose record changed are rendered (the others' rows taken from
the round's files, ``website.fragments``); the files
spanning every round join the others' parts as they are on disk (checked against the
manifest as they are joined). A round whose content digest has not changed is not rendered
again; any file is written only when its bytes change, atomically (``shuangsui.files``). A
manifest that cannot be read (a run of an earlier version killed while writing it), or a
state that does not vouch for it, counts as absent: the next publish reads and renders
everything. Partial files a killed run left are removed first. A commitment not on the
site yet is put there before any round is rendered: its commitment.json, then, once that is
in place, the moment it first appeared (the stamp, which says whether that was before its
entropy), then its page, which says that moment.
After the files are in place, the versions they show are recorded as published.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Engine, select, text, update
from sqlmodel import Session

from findings.events import ResultPublished
from findings.integrity import check_contents
from findings.models import PublishedResult
from rounds import audit, disclosure
from rounds.models import Round, RoundStatus
from rounds.notice import commitment_bytes, commitment_document
from shuangsui import writes
from shuangsui.clock import local_label
from shuangsui.collector import collector_paused
from shuangsui.config import Settings, get_settings
from shuangsui.db import insert_rows, rows_of
from shuangsui.errors import Conflict, IntegrityError
from shuangsui.files import remove_leftovers, writer_lock
from shuangsui.keys import is_key
from shuangsui.paths import child, inside
from website import fragments, inputs
from website.fragments import Kept
from website.model import PublicResult, PublicRound, Site
from website.output import MANIFEST as MANIFEST  # where tests and tools look for them
from website.output import STATE as STATE
from website.output import KeptFileChanged, Output, PublishReport, part_file
from website.parts import RoundPart, content_digest, on_disk, part_of
from website.records import (
    RoundRow,
    build_site,
    published_order,
    read_batches,
    read_results,
    read_rounds,
)
from website.render import (
    commitment_paths,
    page_groups,
    render_aggregates,
    render_catalog,
    render_commitment,
    render_round,
    round_paths,
    round_pieces,
)
from website.results import NewlyPublished
from website.untouched import taken_back_if_refused

logger = logging.getLogger(__name__)


# Each returns {site-relative path: bytes} of more public files, written with the rest: the
# leads' counts by source and outcome (``data/leads.json``) register here (leads/hooks.py).
extra_file_hooks: list[Callable[[Engine], dict[str, bytes]]] = []


def _bundle(engine: Engine, key: str, output: Output, report: PublishReport) -> None:
    """The round's PUBLIC bundle (inspectors under pseudonyms only); any file of an earlier
    bundle that the public one does not have (a full bundle's inspector frame) is removed.
    The audit log is checked once a publish, before its first bundle (``report.audit_events``),
    not once a bundle: a publish of every round checked the whole log once a round (122 times
    in a 57 s publish at five years)."""
    from rounds.audit import check_chain
    from rounds.bundle import bundle_round

    if report.audit_events is None:
        report.audit_events = check_chain(engine)
    folder = f"rounds/{key}/bundle/"
    with tempfile.TemporaryDirectory(prefix="bundle-") as tmp:
        path = bundle_round(
            engine, key, Path(tmp), audience="public", scratch=True, chain_checked=True
        )
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
    output: Output,
    report: PublishReport,
    stamps: dict[str, tuple[datetime, bool]],
    differs: bool,
) -> None:
    """The round's commitment file and page, written once and never rewritten: a round
    committed but not yet drawn is published so the commitment is public before the entropy
    exists, and whatever happens to the round afterwards these bytes stay as they were.
    ``differs``: the site's commitment is not the database's (``published_commitments``).

    A file of them found changed on disk (``check_files``) is put back only if the bytes made
    now are the very bytes first published (the SHA-256 the manifest listed); otherwise it is
    left as found (``PublishReport.unrestored``): what was published before the draw is never
    replaced by anything else."""
    json_rel, html_rel = commitment_paths(rnd.round_key)
    if differs or (output.has(json_rel) and output.has(html_rel)):
        return
    at, before_draw = stamps[rnd.round_key]  # set for each commitment not on the site yet
    # the same values as any copy already there (published_commitments)
    for rel, data in render_commitment(site, rnd, local_label(at), before_draw=before_draw).items():
        first = output.was.get(rel)
        if first is not None and hashlib.sha256(cast(bytes, data)).hexdigest() != first[0]:
            continue  # Output.settle_changed names it, listed as first published
        output.write(rel, data, report)


def published_commitments(
    out: Path, rows: list[RoundRow], settings: Settings, changed: Container[str] = ()
) -> dict[str, dict[str, Any]]:
    """The commitments on the site that are not the database's, by round: the site keeps the
    one it published, and the round's page shows each value that differs. Compared as JSON
    values, so a file whose bytes differ but say the same (another serialisation) is no
    difference; a file that is not a JSON object differs in every value. A file in
    ``changed`` is not the one the site published (``Output.check_files``): it says nothing
    of what was published, and is left to :func:`_commitment`."""
    differing = {}
    for row in rows:
        rel = commitment_paths(row.key)[0]
        target = out / rel
        if rel in changed or not target.is_file():
            continue
        try:
            doc = json.loads(target.read_bytes())
        except ValueError:
            doc = {}
        doc = doc if isinstance(doc, dict) else {}
        if doc != commitment_document(row.row, row.doc, bureau_code=settings.bureau_code):
            differing[row.key] = doc
    return differing


def _withdraw_bundle(key: str, output: Output, report: PublishReport) -> None:
    """A bundle on the site of a round not revealed (a site published before disclosure
    rules existed) leaves it: the drawn list is not public yet."""
    folder = f"rounds/{key}/bundle/"
    for rel in sorted(output.files):
        if rel.startswith(folder):
            output.remove(rel, report)
    shutil.rmtree(child(output.out / "rounds", key) / "bundle", ignore_errors=True)


# A publish reads the results of the rounds it renders again in runs of rounds holding at most
# this many drawn enterprises: it holds one run's results at a time (about 2 KB each), in a
# few reads whatever the number of rounds.
READ_BATCH = 20_000
BUNDLE_AUDIENCE = "public"  # a site manifest entry "public:<seed>"; a bare seed = older bundle


def _bundle_stamp(rnd: PublicRound) -> str:
    """What the site's manifest says of the round's bundle it holds: the bundle of this seed,
    with this many replacements (each one (§14) adds to the bundle: written again)."""
    stamp = f"{BUNDLE_AUDIENCE}:{rnd.seed}"
    if rnd.replaced:
        stamp += f":replaced {sum(rnd.replaced.values())}"
    return stamp


def _held(output: Output, bundles: bool) -> list[list[str]] | None:
    """The bundles a publish without bundles finds on the site (each round's stamp), which its
    pages link to: one gone since (``check_files``) makes its round's pages again."""
    if bundles:
        return None
    return sorted(
        [key, stamp]
        for key, stamp in output.bundles.items()
        if output.has(f"rounds/{key}/bundle/MANIFEST.sha256")
    )


@collector_paused()
def publish(
    engine: Engine,
    out: Path,
    *,
    settings: Settings | None = None,
    bundles: bool = True,
    record: bool = True,
    now: datetime | None = None,
    check_files: bool = False,
) -> PublishReport:
    """Render the public site into ``out`` as of ``now`` (default: the disclosure clock);
    only what changed is read and rendered, only changed files are written. Publishes into
    one folder take turns (its writer lock): a second one started meanwhile waits, then
    reads what the first wrote and recorded.

    A version of a round read again whose stored content no longer matches its
    ``content_hash`` (a result rewritten in the database) refuses the whole publish before
    anything is written or recorded (:class:`IntegrityError` naming it).

    A kept file found changed on disk when it is joined into the files spanning every round
    (``website.output.Output.part``) makes the publish start again, every kept file checked
    before it is used (nothing is recorded before the files spanning every round are
    written; the first attempt's files are written again).

    ``check_files``: every file the last publish listed is read and hashed first, and each one
    missing or changed on disk since is written again (a page or data file edited in place
    otherwise stays until its round changes); they are named in ``PublishReport.restored``,
    with the files no publish wrote in the site's own folders (``unlisted``, left there), and
    recorded in the audit log (``SiteFilesChanged``). A commitment file is put back only as the
    bytes first published; one that cannot be raises :class:`IntegrityError` at the end."""
    settings = settings or get_settings()
    with writer_lock(out), taken_back_if_refused(out):
        stamps_at = StampClock(now)
        now = now or disclosure.now()
        if check_files:
            output = Output(out, check_kept=True)
            return _publish(engine, output, settings, bundles=bundles, record=record, now=now,
                            stamps_at=stamps_at, check_files=True)  # fmt: skip
        output = Output(out, check_kept=False)
        try:
            return _publish(engine, output, settings, bundles=bundles, record=record, now=now,
                            stamps_at=stamps_at)  # fmt: skip
        except KeptFileChanged as exc:
            logger.warning("%s: publishing again, every kept file checked first", exc)
            output = Output(out, check_kept=True)
            return _publish(engine, output, settings, bundles=bundles, record=record, now=now,
                            stamps_at=stamps_at)  # fmt: skip


class StampClock:
    """When a commitment first appeared on the site: read once its commitment.json is in place
    (the disclosure clock; a caller that passes ``now`` fixes it), and read once a publish:
    one that starts again (``KeptFileChanged``) writes the same pages."""

    def __init__(self, now: datetime | None) -> None:
        self.now = now
        self.taken: dict[str, tuple[datetime, bool]] = {}

    def stamp(self, row: RoundRow) -> tuple[datetime, bool]:
        if row.key not in self.taken:
            at = self.now or disclosure.now()
            self.taken[row.key] = (at, before_its_entropy(row.row, at))
        return self.taken[row.key]


def _first_commitment(
    site: Site, rnd: PublicRound, row: RoundRow, output: Output, report: PublishReport,
    stamps_at: StampClock,
) -> tuple[datetime, bool]:  # fmt: skip
    """Put ``rnd``'s commitment on the site for the first time: commitment.json, then the
    stamp (when it first appeared, and whether that was before its entropy), then the page
    that says it. A publish that took longer than the lead before it reached this round never
    claims a moment before the file existed."""
    json_rel, html_rel = commitment_paths(rnd.round_key)
    output.write(json_rel, commitment_bytes(rnd.commitment), report)
    at, before = stamps_at.stamp(row)
    page = render_commitment(site, rnd, local_label(at), before_draw=before)[html_rel]
    output.write(html_rel, page, report)
    return at, before


def _publish(
    engine: Engine,
    output: Output,
    settings: Settings,
    *,
    bundles: bool,
    record: bool,
    now: datetime,
    check_files: bool = False,
    stamps_at: StampClock | None = None,
) -> PublishReport:
    out = output.out
    output.refuse_links(output.parts)  # the rounds this site holds; those to come, below
    remove_leftovers(out)
    restored, unlisted = output.check_files() if check_files else ([], [])
    if restored or unlisted:
        logger.warning(
            "site %s: %d file(s) not as the last publish left them (written again: %s); "
            "%d file(s) no publish wrote (left as found: %s)",
            out, len(restored), ", ".join(restored) or "none", len(unlisted),
            ", ".join(unlisted) or "none",
        )  # fmt: skip
    stamps = commitment_stamps(engine)
    extra = {rel: data for hook in extra_file_hooks for rel, data in hook(engine).items()}
    with engine.connect() as conn:
        rows = read_rounds(conn, settings, now)
        output.refuse_links(r.key for r in rows)
        for row in rows:  # a round's files are named by its key: refuse before writing any
            child(out / "rounds", row.key)
        _refuse_unpublishing(rows, output)
        recorded = dict(stamps)
        stamps_at = stamps_at or StampClock(None)  # (the disclosure clock)
        # commitments this run puts on the site first: written once the contents are checked,
        # before any round is rendered, each stamped once in place (its label known then)
        on_site = {r.key for r in rows if (out / commitment_paths(r.key)[0]).is_file()}
        fresh = {r.key for r in rows if r.key not in stamps and r.key not in on_site}
        for row in rows:  # one on the site and not recorded: stamped now (it is in place)
            if (
                row.key not in stamps
                and row.key not in fresh
                and not all(map(output.has, commitment_paths(row.key)))
            ):
                stamps[row.key] = stamps_at.stamp(row)
        # as the pages say it (none for a commitment on the site but not recorded)
        first = {r.key: local_label(stamps[r.key][0]) if r.key in stamps else "" for r in rows}
        ctx = [*inputs.context(settings, bundles), sorted(extra), _held(output, bundles)]
        counted = inputs.counts(conn)
        site_key, fingerprints, settled = inputs.fingerprints(counted, rows, first, ctx)
        differing = published_commitments(out, rows, settings, output.was)
        if not differing and not fresh and output.current(site_key, record, extra):
            report = _nothing_to_publish(output, rows)
            if unlisted:  # every listed file as published (output.current)
                report.unlisted = unlisted
                if record:
                    _record_site_check(engine, report, {})
            return report
        kept = {}
        finished = output.finished(record)
        if finished:
            # a round whose commitment differs is shown again, with the differences
            for row in rows:
                if row.key in differing or row.key in fresh:
                    continue
                if (part := output.part(row.key, fingerprints[row.key])) is not None:
                    kept[row.key] = part
        site, _ = build_site(conn, settings, rows, results_of=())  # results: read below
        reread = [r.key for r in rows if r.key not in kept]
        # a result rewritten in the database: refused before anything is written (the reads
        # below come a run of rounds at a time, between the writes of the rounds before, and
        # each makes sure it read what this check saw: ``_read_checked``)
        checked, tops = inputs.finding_marks(conn, reread)
        alone = [key for key in reread if key not in differing and key not in fresh]
        local = _written_alone(conn, output, alone, checked, settled) if finished else {}
        check_contents(conn, reread, local)
        report = PublishReport(out, len(site.rounds))
        if fresh:
            for i, row in enumerate(rows):
                if row.key in fresh:
                    if row.key not in stamps_at.taken:
                        _first_commitment(site, site.rounds[i], row, output, report, stamps_at)
                    stamps[row.key] = stamps_at.stamp(row)
                    first[row.key] = local_label(stamps[row.key][0])
            # as the database was read above (a write since: the next publish reads it)
            site_key, fingerprints, settled = inputs.fingerprints(counted, rows, first, ctx)
        runs = read_batches(conn, reread, READ_BATCH)
    head_of = {row.key: row for row in rows}
    run_of = {key: run for run in runs for key in run}
    listed_of: dict[str, list[PublicResult]] = {}  # the results of the run being rendered
    unpublished: list[NewlyPublished] = []
    report.reread = [r.round_key for r in site.rounds if r.round_key not in kept]
    report.read_in_part = sorted(local)
    keys = {r.round_key for r in site.rounds}
    first_time = {k for k in keys if k in stamps and k not in recorded}
    parts: dict[str, RoundPart] = {}
    for i, rnd in enumerate(site.rounds):
        _commitment(site, rnd, output, report, stamps, rnd.round_key in differing)
        manifest = f"rounds/{rnd.round_key}/bundle/MANIFEST.sha256"
        # due: drawn (or failed with its entropy) and revealed (``website.records``)
        stamp, due = _bundle_stamp(rnd), rnd.bundled
        rnd = site.rounds[i] = replace(
            rnd,
            commitment_first_published=first[rnd.round_key],
            commitment_before_draw=rnd.round_key in stamps and stamps[rnd.round_key][1],
            published_commitment=differing.get(rnd.round_key),
            # as the site holds it: a publish without bundles links to none it never wrote
            bundled=due
            and (bundles or (output.bundles.get(rnd.round_key) == stamp and output.has(manifest))),
        )
        if rnd.round_key in kept:  # inputs unchanged: its files are in place (checked)
            parts[rnd.round_key] = kept[rnd.round_key]
        else:  # read, rendered and let go: its part stands for it from here on
            key = rnd.round_key
            if key not in listed_of:  # the first round of the next run
                with engine.connect() as conn:
                    run = [head_of[k] for k in run_of[key]]
                    listed_of, new = _read_checked(conn, settings, run, checked, local)
                unpublished += new
            made_with = fragments.made_with(rnd, inputs.code_version())
            pieces = output.pieces(key, made_with) if finished else None
            results, records = listed_of.pop(key), None
            if key in local:  # its findings added since, read alone: the rest from its files
                done = fragments.completed(pieces, results, local[key]) if pieces else None
                if done is None:  # they do not fit together: the round is read whole
                    results, new = _read_whole(engine, settings, head_of[key], checked)
                    unpublished = [v for v in unpublished if v.round_key != key] + new
                    report.read_in_part.remove(key)
                else:
                    results, records = done
            site.rounds[i] = replace(rnd, results=results)
            parts[key] = _round(site, site.rounds[i], output, report, made_with, pieces, records)
            read_at = {"settled": settled[key], "changes": checked.get(key)}
            output.keep_part(key, fingerprints[key], parts[key], read_at)
            site.rounds[i] = rnd
        if (
            bundles
            and due
            and (output.bundles.get(rnd.round_key) != stamp or not output.has(manifest))
        ):
            _bundle(engine, rnd.round_key, output, report)
            output.bundles[rnd.round_key] = stamp
        elif not due and output.bundles.pop(rnd.round_key, None) is not None:
            _withdraw_bundle(rnd.round_key, output, report)
    report.results = sum(p.shown for p in parts.values())
    for rel, data in render_aggregates(site, parts).items():
        output.write(rel, data, report)
    for rel, data in sorted(extra.items()):
        output.write(rel, data, report)
    for rel in sorted(output.files):
        parts_of = rel.split("/")
        gone = (parts_of[0] == "rounds" and parts_of[1] not in keys) or (
            parts_of[0] == "data"
            and rel.endswith((".csv", ".json"))
            and parts_of[1].rsplit(".", 1)[0] not in keys | {"results", "rounds", "search-index"}
            and rel not in extra
        )
        if gone:
            output.remove(rel, report)
    for key in set(output.rounds) - keys:
        output.rounds.pop(key)
        output.bundles.pop(key, None)
        shutil.rmtree(child(out / "rounds", key), ignore_errors=True)
    for key in set(output.parts) - keys:
        output.parts.pop(key)
        inside(out, part_file(key)).unlink(missing_ok=True)
    for rel, data in render_catalog(
        site, {k: (v[0], v[1]) for k, v in output.files.items()}
    ).items():
        output.write(rel, data, report)
    output.draws |= {row.key: str(row.row["seed"]) for row in rows if row.row["seed"]}
    output.settle_changed(report)
    report.unlisted = unlisted
    site_digest = output.save()
    if record and (output.was or unlisted):
        _record_site_check(engine, report, output.was)
    if record:
        _record_stamps(engine, {k: stamps[k] for k in first_time})
        report.revealed = _record_reveals(engine, site, now)
    if record and unpublished:
        report.newly_published = _record(
            engine, sorted(unpublished, key=published_order), site_digest
        )
    output.finish(site_digest, site_key, record, report.results,
                  tops or output.state.get("findings"))  # fmt: skip
    logger.info(
        "published %d round(s), %d result(s) to %s: %d read again, %d file(s) written, "
        "%d unchanged",
        report.rounds,
        report.results,
        out,
        len(report.reread),
        len(report.written),
        report.unchanged,
    )
    if differing:
        raise IntegrityError(
            f"round(s) {', '.join(differing)}: the database's commitment differs from the one "
            "published in rounds/<key>/commitment.json; the published commitment is never "
            "rewritten, and the round's page shows each value that differs"
        )
    if report.unrestored:
        raise IntegrityError(
            f"{', '.join(report.unrestored)}: changed on disk since they were published, and "
            "not written again: a commitment is put back only as the bytes first published, "
            "which this database and program no longer make (restore the file from a backup "
            "of the site); a bundle's file, publish with bundles"
        )
    return report


@dataclass(frozen=True)
class SiteFilesChanged:
    """Audit event: a publish that checked every file (``check_files``) found some not as
    the last publish left them (each with the SHA-256 it was published with), or files in the
    site's own folders that no publish wrote."""

    restored: dict[str, str]  # path -> SHA-256 as published: written again
    unrestored: dict[str, str]  # path -> SHA-256 as published: left as found
    unlisted: list[str]


def _record_site_check(engine: Engine, report: PublishReport, was: Mapping[str, list]) -> None:
    audit.append(engine, None, SiteFilesChanged(
        restored={rel: was[rel][0] for rel in report.restored},
        unrestored={rel: was[rel][0] for rel in report.unrestored},
        unlisted=report.unlisted,
    ))  # fmt: skip


READ_ATTEMPTS = 3  # reads of a run whose findings are being written as it is read


def _written_alone(
    conn: Connection,
    output: Output,
    keys: list[str],
    changes: dict[str, tuple[int, int]],
    settled: dict[str, str],
) -> dict[str, set[str]]:
    """The rounds of ``keys`` whose inputs changed only by findings added since the finished
    publish (their fingerprint apart from their findings the same, and every change of their
    findings since their part was made a row above the largest ids that publish saw:
    ``inputs.written_since``), each with the credit codes of those findings: only their
    results are read again. ``changes``: each round's change log now."""
    tops = output.state.get("findings")
    local = {}
    for key in keys:
        since = output.since(key)
        if not tops or not since or since.get("settled") != settled[key] or key not in changes:
            continue
        if not since.get("changes"):
            continue
        codes = inputs.written_since(conn, key, since["changes"], tops, changes[key][0])
        if codes is not None:
            local[key] = codes
    return local


def _read_whole(
    engine: Engine, settings: Settings, head: RoundRow, checked: dict[str, tuple[int, int]]
) -> tuple[list[PublicResult], list[NewlyPublished]]:
    """A round that was to be read in part (``_written_alone``) whose files cannot complete
    it (changed on disk, or a firm listed now and not then), read whole and checked whole."""
    logger.info("round %s: its files do not complete it: reading it all", head.key)
    with engine.connect() as conn:
        check_contents(conn, [head.key])
        listed, new = _read_checked(conn, settings, [head], checked)
    return listed[head.key], new


def _read_checked(
    conn: Connection,
    settings: Settings,
    run: list[RoundRow],
    checked: dict[str, tuple[int, int]],
    only: Mapping[str, set[str]] | None = None,
) -> tuple[dict[str, list[PublicResult]], list[NewlyPublished]]:
    """``read_results`` of ``run`` (of a round in ``only``, the results of those credit codes
    alone), never showing a version :func:`check_contents` did not
    see. The check ran before the first write; this read comes later, in a statement of its
    own. If no finding of the run was written between the two (``inputs.finding_changes``
    the same after the read as before the check), the read is what was checked. Otherwise
    (an inspector's correction, or an UPDATE by hand) the run is read again and checked
    again, until a read and its check see the same writes: a rewritten result is refused
    then, after the earlier runs' files but before any of its own, and before anything is
    recorded."""
    keys = [row.key for row in run]

    def changes() -> dict[str, tuple[int, int]]:
        now = inputs.finding_changes(conn, keys)
        return {key: now[key] for key in keys if key in now}

    listed, new = read_results(conn, settings, run, only)
    if changes() == {key: checked[key] for key in keys if key in checked}:
        return listed, new
    for _ in range(READ_ATTEMPTS):
        before = changes()
        listed, new = read_results(conn, settings, run, only)
        check_contents(conn, keys, only)
        if changes() == before:
            return listed, new
    raise Conflict(
        f"round(s) {', '.join(keys)}: findings were written while the publish read them, "
        f"{READ_ATTEMPTS} times; nothing was recorded as published: publish again"
    )


def _round(
    site: Site,
    rnd: PublicRound,
    output: Output,
    report: PublishReport,
    made_with: str,
    kept: Kept | None,
    records: list[str] | None = None,
) -> RoundPart:
    """A round read again: its results' pieces of its files, taken from the last publish's
    files (``kept``: those made with ``made_with``, of a finished publish) for each result
    whose record has not changed and made for the others (``website.fragments``); its page
    and data files, rendered from them unless its content is the same as last time; its
    part. ``records``: its results' JSON records, when known."""
    pieces = round_pieces(rnd, kept.by_record if kept else {}, records)
    part = part_of(rnd, pieces)
    digest = content_digest(rnd, part)
    html, csv_rel, json_rel = round_paths(rnd.round_key)
    if kept is not None and output.rounds.get(rnd.round_key) == digest:
        # the same content, in files that are the manifest's (just checked): nothing to write
        return on_disk(replace(part, pieces=kept.index), json_rel, csv_rel)
    if kept is None:  # a file changed on disk is written again, whatever its new bytes
        output.forget_changed(html, csv_rel, json_rel)
    files = render_round(site, rnd, part, pieces)
    for rel, data in files.items():
        output.write(rel, data, report)
    output.rounds[rnd.round_key] = digest
    page = cast(bytes, files[html]).decode("utf-8")
    strata = [r.stratum for r in rnd.results]
    index = fragments.index(made_with, pieces, page_groups(rnd.results), page, strata)
    return on_disk(replace(part, pieces=index), json_rel, csv_rel)


def _nothing_to_publish(output: Output, rows: list[RoundRow]) -> PublishReport:
    report = PublishReport(output.out, len(rows), int(output.state.get("results", 0)))
    report.unchanged = len(output.files)
    logger.info(
        "published %d round(s), %d result(s) to %s: nothing changed",
        report.rounds,
        report.results,
        output.out,
    )
    return report


def before_its_entropy(row: Mapping[str, Any], now: datetime) -> bool:
    """Whether a commitment first published ``now`` precedes the entropy of its round: the
    round not drawn yet, and no beacon round it names emitted yet (a beacon's value is public
    from its round's time on, drawn or not: a round waiting for its draw past that time was
    said to have been published 在产生随机数之前)."""
    if str(row["status"]) != RoundStatus.committed.value:
        return False
    sources = (row["entropy_plan"] or {}).get("sources", [])
    times = [datetime.fromisoformat(s["expected_at"]) for s in sources if s.get("expected_at")]
    return all(now < at for at in times)


def _refuse_unpublishing(rows: list[RoundRow], output: Output) -> None:
    """Refuse, before anything is written, a publish that would take back what this site has
    shown: a round it published that the database no longer holds (its files were removed, its
    commitment with them), or a round it showed drawn with one seed that the database now holds
    with another or with none (the round deleted and drawn again under its key, the audit log's
    tail with it: the log cannot tell that from an honest one, the site can)."""
    have = {row.key: row for row in rows}
    # a name that is no round key was never a round of ours (a manifest edited by hand): the
    # stale-file cleanup refuses its paths
    gone = sorted(k for k in set(output.rounds) - set(have) if is_key(k))
    if gone:
        raise IntegrityError(
            f"round(s) {', '.join(gone)}: published on this site and no longer in the database; "
            "a published round is never taken off the site (nothing published)"
        )
    for key, shown in sorted(output.draws.items()):
        now = str(have[key].row["seed"] or "") if key in have else ""
        if now != shown:
            raise IntegrityError(
                f"round {key}: this site published its draw with seed {shown}; the database now "
                f"holds {f'seed {now}' if now else 'no draw'}; a round key is drawn once "
                "(nothing published)"
            )


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
    publish (into this folder or another) that recorded one first wins; this run then records
    nothing for it (``disclosure.reveal`` sets the moment only where none is set)."""
    table = Round.__table__  # type: ignore[attr-defined]
    shown = {r.round_key: r.disclosure for r in site.rounds if r.revealed}
    if not shown:
        return []
    query = select(table.c.round_key).where(
        table.c.revealed_at.is_(None), table.c.status.in_(disclosure.REVEALABLE)
    )
    with engine.connect() as conn:
        pending = sorted(set(conn.scalars(query)) & set(shown))
    if not pending:
        return []

    def work(session: Session) -> list[str]:
        return [
            key
            for key in pending
            if disclosure.reveal(session, key, at=now, disclosure=shown[key], by="publish")
        ]

    won = writes.write(engine, work, what="the reveal of " + ", ".join(pending))
    for key in won:
        logger.info("round %s revealed: its drawn list is public", key)
    return won


# Called with (session, [NewlyPublished, ...]) inside the transaction that records a
# publication (after its rows are in): the partner exchange shares each newly published
# result in the same commit, from what the publish read (not reading the versions again),
# as a correction when ``corrects`` (another version of its finding was recorded before).
after_record_hooks: list[Callable[[Session, list[NewlyPublished]], None]] = []


def _record(engine: Engine, versions: list[NewlyPublished], site_digest: str) -> int:
    """Record ``versions`` as published, with the hooks and an audit event, skipping those a
    concurrent publish (into another folder: each folder has its own writer lock) recorded
    first; how many this run recorded.

    Recorders take turns on ``published_result`` (PostgreSQL: a table lock that readers pass;
    SQLite: the database's write lock), and each reads what is recorded only once it has its
    turn: the second finds the first's rows and records, and shares, only what is left. What
    is recorded of the findings of ``versions`` is read once, in that turn: a version found
    there is recorded already; another version of its finding found there makes it a
    correction (``NewlyPublished.corrects``)."""
    now = datetime.now(UTC)
    table = PublishedResult.__table__  # type: ignore[attr-defined]
    ids = {v.version_id for v in versions}

    def work(session: Session) -> int:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"LOCK TABLE {table.name} IN SHARE ROW EXCLUSIVE MODE"))
        recorded: set[int] = set()
        corrected: set[int] = set()  # findings with another version recorded
        findings = [v.finding_id for v in versions]
        columns = ("finding_id", "version_id")
        conn = session.connection()
        for finding_id, version_id in rows_of(conn, table, columns, "finding_id", findings):
            if version_id in ids:
                recorded.add(version_id)
            else:
                corrected.add(finding_id)
        new = [
            v._replace(corrects=True) if v.finding_id in corrected else v
            for v in versions
            if v.version_id not in recorded
        ]
        if not new:
            return 0
        rows = [(v.version_id, v.finding_id, now) for v in new]
        insert_rows(session.connection(), table, ("version_id", "finding_id", "published_at"),
                    rows)  # fmt: skip
        for hook in after_record_hooks:
            hook(session, new)
        audit.add_to(session, None, ResultPublished(len(rows), site_digest))
        return len(rows)

    count = writes.write(engine, work, what="the publication")
    if count < len(versions):
        logger.info("%d result(s) were recorded by another publish", len(versions) - count)
    return count
