"""Typed audit events of the workspace (the findings service records its own)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkspaceOpened:
    """A link's token was exchanged for a workspace session."""

    role: str
    who: str
    credit_code: str


@dataclass(frozen=True)
class WorkspaceClosed:
    """A session ended by its 退出 (``workspace.signout``): the cookie cleared in that browser."""

    role: str
    who: str
    credit_code: str


@dataclass(frozen=True)
class DraftSaved:
    credit_code: str
    inspector_id: str
    draft_sha256: str


@dataclass(frozen=True)
class EvidenceAttached:
    credit_code: str
    inspector_id: str
    sha256: str
    size: int


@dataclass(frozen=True)
class EvidenceRemoved:
    """A file the inspector took out of their draft before submitting (移除): the file stays
    stored and linked to the assignment; the audit log shows it was attached and left out."""

    credit_code: str
    inspector_id: str
    sha256: str


@dataclass(frozen=True)
class ExportDownloaded:
    what: str
    file_format: str
    by: str


@dataclass(frozen=True)
class DeadLettersRequeued:
    count: int
    by: str


@dataclass(frozen=True)
class AdhocRequested:
    """A coordinator started an ad hoc round (``step`` start) or its ceremony (``step``
    ceremony: ``offered_sha256`` names its digits and witnesses, ``api.ceremonies``)."""

    plan: str
    reason: str
    by: str
    step: str
    offered_sha256: str = ""


@dataclass(frozen=True)
class AdhocRefused:
    """An ad hoc round started (the page or ``POST /rounds/adhoc`` answered with its key) and
    then refused before its commit, in the background: the key is never a round, and this is
    where its coordinator learns why (the month page, ``GET /rounds/adhoc/{key}``)."""

    plan: str
    reason: str
    by: str
    kind: str  # the refusal's class (PlanError, CommitHeld, UserError, ...)
    error: str


def record_refusal(round_key: str, event: AdhocRefused) -> None:
    """Append ``event`` for ``round_key`` unless the key is a round by now (a refusal of a
    second start of one round key, whose first start committed it, is not this round's)."""
    from sqlmodel import Session

    from rounds import audit
    from rounds.models import Round
    from shuangsui.config import get_settings
    from shuangsui.db import get_engine

    engine = get_engine(get_settings())
    with Session(engine) as db:
        if db.get(Round, round_key) is not None:
            return
    audit.append(engine, round_key, event)


@dataclass(frozen=True)
class CeremonyEntered:
    """A coordinator entered a scheduled round's ceremony digits on its page (the draw that
    follows records the digits and witnesses: ``DrawMade``). ``offered_sha256`` names them
    (``api.ceremonies``: the entry holds the round for this ceremony)."""

    plan: str
    by: str
    offered_sha256: str = ""


@dataclass(frozen=True)
class DrawCommandEntered:
    """``shuangsui round draw`` run by ``by`` (``--by``, or the login's user name) holds the
    round while it draws with the entropy ``offered_sha256`` names (``api.ceremonies``): a
    ceremony entered meanwhile is refused as held by the command. ``host``, ``pid`` and
    ``process`` (the host's boot, PID namespace and the process's start: ``api.ceremonies.
    Process``) tell the command's process, so that one provably gone on this host holds
    nothing ("" and 0 when not known: the hold keeps its 15 minutes)."""

    by: str
    offered_sha256: str
    host: str = ""
    pid: int = 0
    process: str = ""


@dataclass(frozen=True)
class CeremonyRefused:
    """A ceremony (``offered_sha256``, entered by ``by``) refused at once: the round was being
    drawn with the ceremony ``entered_by`` entered at ``entered_at`` (``api.ceremonies``);
    ``by_command``: that was ``shuangsui round draw`` holding the round while it drew."""

    by: str
    offered_sha256: str
    entered_by: str
    entered_at: str
    by_command: bool = False


@dataclass(frozen=True)
class CeremonyRunCreated:
    """The ``draw-round`` deployment's flow run that draws the ceremony ``offered_sha256``
    holding the round (``api.ceremonies``): a later ceremony or the round's page asks Prefect
    how it ended."""

    by: str
    offered_sha256: str
    flow_run_id: str


@dataclass(frozen=True)
class CeremonyEnded:
    """A ceremony that will not draw its round (its run was not started, or ended without a
    draw: ``error``): it no longer holds the round, and a later ceremony may take it.
    ``run_state``: its deployment run's final state as Prefect said it (``CANCELLED``,
    ``CRASHED``, ``FAILED``, ``COMPLETED``), when that is how it was found to have ended."""

    by: str
    offered_sha256: str
    error: str
    run_state: str = ""
