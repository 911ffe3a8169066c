"""Routes anyone may call."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from api.auth import Role, allow

router = APIRouter(tags=["public"])


@router.get("/health", dependencies=[Depends(allow(Role.public))])
def health() -> dict[str, str]:
    """Liveness: the API answers."""
    return {"status": "ok"}
