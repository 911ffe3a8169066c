"""An assignment's findings: read, submit a version, sign it off, upload evidence."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from api.auth import Principal, Role, allow
from api.problems import PROBLEM_RESPONSES, Problem
from findings import evidence, service
from findings.schemas import FindingIn
from findings.settings import FindingsSettings

router = APIRouter(
    prefix="/findings/{round_key}/{credit_code}", tags=["findings"], responses=PROBLEM_RESPONSES
)

TeamOrCoordinator = Annotated[Principal, Depends(allow(Role.inspector, Role.coordinator))]
TeamMember = Annotated[Principal, Depends(allow(Role.inspector))]


@router.get("")
def read_finding(
    round_key: str, credit_code: str, request: Request, who: TeamOrCoordinator
) -> dict[str, Any]:
    """The assignment's team and every version of its finding, with sign-offs."""
    hist = service.history(request.app.state.engine, round_key, credit_code)
    return hist.as_json(internal=True)


@router.post("", status_code=201)
def submit_finding(
    round_key: str, credit_code: str, body: FindingIn, request: Request, who: TeamOrCoordinator
) -> dict[str, Any]:
    """Submit a version. A team member's submission is also their sign-off; a coordinator's
    (a correction) must be signed by the whole team. After the first version, ``reason`` is
    required: a correction never overwrites."""
    engine = request.app.state.engine
    signers = [who.name] if who.role is Role.inspector else []
    version = service.submit(
        engine,
        round_key=round_key,
        credit_code=credit_code,
        data=body,
        submitted_by=who.actor,
        signers=signers,
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


@router.post("/versions/{version}/sign-off")
def sign_off(
    round_key: str, credit_code: str, version: int, request: Request, who: TeamMember
) -> dict[str, Any]:
    """Sign the latest version; once every team member has, the finding is final."""
    state = service.sign_off(
        request.app.state.engine,
        round_key=round_key,
        credit_code=credit_code,
        version=version,
        inspector_id=who.name,
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
    filename: Annotated[str, Query(max_length=255)] = "",
) -> dict[str, Any]:
    """Upload one evidence file as the raw request body (its Content-Type is its media type).
    Reference it in a finding by the returned ``sha256``."""
    settings = FindingsSettings()
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > settings.evidence_max_bytes:
        raise Problem(
            413,
            f"evidence is larger than {settings.evidence_max_bytes} bytes; split or compress it",
            slug="evidence-too-large",
        )
    home = request.app.state.settings.home
    writer = evidence.EvidenceWriter(home, request.headers.get("content-type", ""), settings)
    try:
        async for chunk in request.stream():
            writer.write(chunk)
    except evidence.EvidenceTooLarge as exc:
        raise Problem(413, str(exc), slug="evidence-too-large") from None
    except BaseException:  # the body cut off by api.limits, or the client gone: no partial file
        writer.abort()
        raise
    digest, _ = writer.finish()
    row = await run_in_threadpool(
        evidence.record,
        request.app.state.engine,
        sha256=digest,
        size=writer.size,
        media_type=writer.media_type,
        filename=filename,
        uploaded_by=who.actor,
    )
    return {
        "sha256": row.sha256,
        "size": row.size,
        "media_type": row.media_type,
        "filename": filename,
    }
