"""The feed a bureau serves its partners: ``/exchange/v1`` (included by ``api.app``).

Every route is for role ``partner``: a bureau of the partner directory, identified by the
RFC 9421 signature its request carries (``httpsig``); a nonce is accepted once. Errors are
RFC 9457 problem+json (``api.problems``). A partner sees only the log: what is shared.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from api.auth import ROLES_ATTR
from api.problems import Problem
from exchange import log
from exchange.directory import Partner, load_directory
from exchange.errors import DirectoryError, SignatureRejected
from exchange.httpsig import verify_request
from exchange.keys import BureauKey, load_or_create
from exchange.models import ExchangeNonce
from exchange.settings import exchange_settings

logger = logging.getLogger(__name__)
PREFIX = "/exchange/v1"
router = APIRouter(prefix=PREFIX, tags=["partner exchange"])


def _engine(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _bureau(request: Request) -> tuple[dict[str, Partner], BureauKey]:
    """The partner directory and key pair of the bureau this app serves (its settings)."""
    settings = request.app.state.settings
    partners_file, keys_dir = exchange_settings().for_home(settings.home)
    return load_directory(partners_file), load_or_create(keys_dir, settings.bureau_code)


def nonce_store(engine: Engine):  # type: ignore[no-untyped-def]
    def store(key_id: str, nonce: str, expires: dt.datetime) -> bool:
        now = dt.datetime.now(dt.UTC)
        with Session(engine) as session:
            session.execute(
                delete(ExchangeNonce).where(
                    col(ExchangeNonce.expires_at) < now - dt.timedelta(minutes=5)
                )
            )
            session.add(ExchangeNonce(key_id=key_id, nonce=nonce, expires_at=expires))
            try:
                session.commit()
            except IntegrityError:
                return False
        return True

    return store


def _check(request: Request, body: bytes) -> Partner:
    try:
        partners, _key = _bureau(request)
    except DirectoryError as exc:
        raise Problem(500, f"the partner directory is broken: {exc}", slug="directory") from None
    keys = {k.http_key_id: (p, k) for p in partners.values() for k in p.keys}
    try:
        verified = verify_request(
            request.method, str(request.url), request.headers.items(), body,
            keys={kid: k for kid, (_p, k) in keys.items()},
            nonce_store=nonce_store(_engine(request)),
            max_age=exchange_settings().exchange_signature_max_age,
        )  # fmt: skip
    except SignatureRejected as exc:
        logger.warning("partner request refused: %s %s: %s", request.method, request.url, exc)
        raise Problem(401, str(exc), slug="signature-rejected") from None
    return keys[verified.key.http_key_id][0]


async def require_partner(request: Request) -> Partner:
    """A partner bureau, by the signature of its request (RFC 9421), or 401 problem+json."""
    body = await request.body()
    return await run_in_threadpool(_check, request, body)


setattr(require_partner, ROLES_ATTR, frozenset({"partner"}))
PARTNER = [Depends(require_partner)]


@router.get("/checkpoint", dependencies=PARTNER, response_class=Response)
def checkpoint(request: Request) -> Response:
    """The latest signed checkpoint (C2SP tlog-checkpoint), with an ETag."""
    cp = log.latest_checkpoint(
        _engine(request), key=_bureau(request)[1],
        max_age=exchange_settings().exchange_checkpoint_interval,
    )  # fmt: skip
    etag = '"' + hashlib.sha256(cp.text.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(cp.text, media_type="text/plain; charset=utf-8", headers=headers)


@router.get("/entries", dependencies=PARTNER)
def entries(
    request: Request,
    response: Response,
    start: int = Query(0, ge=0),
    end: int | None = Query(None, ge=0, description="default: the current tree size"),
    limit: int | None = Query(None, ge=1),
) -> dict[str, Any]:
    """Entries ``start <= seq < end`` in order, one page; ``Link: <…>; rel="next"`` for more."""
    page = min(limit or 10**9, exchange_settings().exchange_page_size)
    with Session(_engine(request)) as session:
        size, _root = log.head_of(session)
        end = size if end is None else end
        if end > size or start > end:
            raise Problem(404, f"the log has {size} entries; [{start}, {end}) is not in it",
                          slug="out-of-range")  # fmt: skip
        rows = log.entries_range(session, start, min(end, start + page))
    nxt = start + len(rows)
    if nxt < end:
        response.headers["Link"] = f'<{PREFIX}/entries?start={nxt}&end={end}>; rel="next"'
    return {"start": start, "end": end,
            "entries": [{"seq": r.seq, "entry": r.body} for r in rows]}  # fmt: skip


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@router.get("/proof/inclusion", dependencies=PARTNER)
def inclusion(
    request: Request, index: int = Query(ge=0), size: int = Query(ge=1)
) -> dict[str, Any]:
    with Session(_engine(request)) as session:
        try:
            proof = log.inclusion(session, index, size)
        except (ValueError, IndexError) as exc:
            raise Problem(404, str(exc), slug="out-of-range") from None
    return {"index": index, "size": size, "proof": _b64(proof)}


@router.get("/proof/consistency", dependencies=PARTNER)
def consistency(
    request: Request, first: int = Query(ge=0), second: int = Query(ge=0)
) -> dict[str, Any]:
    with Session(_engine(request)) as session:
        try:
            proof = log.consistency(session, first, second)
        except ValueError as exc:
            raise Problem(404, str(exc), slug="out-of-range") from None
    return {"first": first, "second": second, "proof": _b64(proof)}


@router.get("/keys", dependencies=PARTNER)
def keys(request: Request) -> dict[str, Any]:
    """This bureau's verifier keys (checkpoints and request signatures)."""
    key = _bureau(request)[1]
    return {"origin": key.origin, "keys": [key.public.text]}
