"""An assignment's findings: read, submit a version, sign it off, upload evidence."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.auth import Principal, Role, allow, still_allowed
from api.bodies import OnceEachKey
from api.problems import MEDIA_TYPE, PROBLEM_RESPONSES, Problem, ProblemDetails
from findings import evidence, service
from findings.schemas import FindingIn
from findings.settings import FindingsSettings
from shuangsui.text import no_control

logger = logging.getLogger(__name__)

router = APIRouter(
    prefix="/findings/{round_key}/{credit_code}", tags=["findings"], responses=PROBLEM_RESPONSES
)

TeamOrCoordinator = Annotated[Principal, Depends(allow(Role.inspector, Role.coordinator))]
TeamMember = Annotated[Principal, Depends(allow(Role.inspector))]
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ProblemDetails,
        "content": {MEDIA_TYPE: {}},
        "description": "Another writer came first; ``latest_version`` names the version now there",
    }
}


def _file_name(name: str) -> str:
    """An evidence file's name as the uploader's device gave it: one name, no folder."""
    if "/" in name or "\\" in name:
        raise ValueError("a file name, not a path: it cannot hold / or \\")
    if problem := evidence.name_problem(name):
        raise ValueError(problem)
    return name


FileName = Annotated[
    str,
    Query(max_length=255, description="the file's name on the uploader's device"),
    AfterValidator(no_control),
    AfterValidator(_file_name),
]


@router.get("")
def read_finding(
    round_key: str, credit_code: str, request: Request, who: TeamOrCoordinator
) -> dict[str, Any]:
    """The assignment's team and every version of its finding, with sign-offs."""
    hist = service.history(request.app.state.engine, round_key, credit_code)
    return hist.as_json(internal=True)


@router.post("", status_code=201, responses=CONFLICT)
def submit_finding(
    round_key: str,
    credit_code: str,
    body: FindingIn,
    request: Request,
    who: TeamOrCoordinator,
    once: OnceEachKey,
    base_version: Annotated[
        int | None,
        Query(
            ge=0,
            description="The version this one corrects (0: the first version); when another "
            "has come since, 409. Without it, the latest when the request arrives.",
        ),
    ] = None,
) -> dict[str, Any]:
    """Submit a version. A team member's submission is also their sign-off; a coordinator's
    (a correction) must be signed by the whole team. After the first version, ``reason`` is
    required: a correction never overwrites. Sending the latest version again adds no version:
    from the other team member it is their sign-off, from the same one it changes nothing.
    Another writer first: 409, naming the version that won (``latest_version``)."""
    engine = request.app.state.engine
    signers = [who.name] if who.role is Role.inspector else []
    version = service.submit(
        engine,
        round_key=round_key,
        credit_code=credit_code,
        data=body,
        submitted_by=who.actor,
        signers=signers,
        base_version=base_version,
        allowed=still_allowed(request, who),
    )
    hist = service.history(engine, round_key, credit_code)
    state = hist.states[version.version - 1]
    return {
        "version": version.version,
        "content_hash": version.content_hash,
        "signed_by": list(state.signed_by),
        "missing": list(state.missing),
        "final": state.final,
    }


@router.post("/versions/{version}/sign-off", responses=CONFLICT)
def sign_off(
    round_key: str, credit_code: str, version: int, request: Request, who: TeamMember
) -> dict[str, Any]:
    """Sign the latest version; once every team member has, the finding is final. Signing
    again changes nothing; a version corrected meanwhile gives 409 naming the latest."""
    state = service.sign_off(
        request.app.state.engine,
        round_key=round_key,
        credit_code=credit_code,
        version=version,
        inspector_id=who.name,
        allowed=still_allowed(request, who),
    )
    return {
        "version": state.version,
        "signed_by": list(state.signed_by),
        "missing": list(state.missing),
        "final": state.final,
        "final_at": state.final_at.isoformat() if state.final_at else None,
    }


@router.post("/evidence", status_code=201)
async def upload_evidence(
    round_key: str,
    credit_code: str,
    request: Request,
    who: TeamMember,
    filename: FileName = "",
) -> dict[str, Any]:
    """Upload one evidence file as the raw request body (its Content-Type is its media type).
    Reference it in a finding of this assignment by the returned ``sha256``: a version cites
    only files uploaded for its own round and enterprise (the same bytes uploaded for another
    assignment are one file, linked to both), anything else is refused (422). A type with a
    signature (JPEG, PNG, WebP, HEIC/HEIF, PDF, ZIP and Office files, MP4, MP3) must open with
    it, and text must be UTF-8: a file whose bytes say otherwise is refused (422
    ``evidence-mismatch``, with ``declared`` and ``looks_like``) and nothing is stored. A link
    revoked while the file came in is refused as at the start (401 ``token-revoked``), and no
    row names the file."""
    settings = FindingsSettings()
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > settings.evidence_max_bytes:
        raise Problem(
            413,
            f"evidence is larger than {settings.evidence_max_bytes} bytes; split or compress it",
            slug="evidence-too-large",
        )
    home = request.app.state.settings.home
    media_type = request.headers.get("content-type", "")
    # no temporary file outlives the writer
    with evidence.EvidenceWriter(home, media_type, settings, filename=filename) as writer:
        try:
            async for chunk in request.stream():
                writer.write(chunk)
            digest, _ = writer.finish()
        except evidence.EvidenceTooLarge as exc:
            raise Problem(413, str(exc), slug="evidence-too-large") from None
        except evidence.EvidenceMismatch as exc:
            found = exc.found or None
            raise Problem(
                422, str(exc), slug="evidence-mismatch", declared=exc.declared, looks_like=found
            ) from None
        except ClientDisconnect:
            logger.info("evidence upload by %s ended after %d bytes", who.actor, writer.size)
            raise Problem(400, "the upload ended before its body did", slug="upload-cut") from None
    row = await run_in_threadpool(
        evidence.record,
        request.app.state.engine,
        sha256=digest,
        size=writer.size,
        media_type=writer.media_type,
        filename=filename,
        uploaded_by=who.actor,
        round_key=round_key,  # the assignment it may be cited for (findings.models.EvidenceLink)
        credit_code=credit_code,
        allowed=still_allowed(request, who),  # revoked since the guard: 401, no row
    )
    return {
        "sha256": row.sha256,
        "size": row.size,
        "media_type": row.media_type,
        "filename": filename,
    }
