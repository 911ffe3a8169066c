"""The feed a bureau serves its partners: ``/exchange/v1`` (included by ``api.app``).

Every route is for role ``partner``: a bureau of the partner directory, identified by the
RFC 9421 signature its request carries (``httpsig``) for OUR public URL (never the Host
header); a nonce is accepted once. Errors are RFC 9457 problem+json (``api.problems``),
naming the parameter at fault; no answer carries a file path. A partner sees only the log:
what is shared. Invalid parameters are answered 422 ``invalid-parameter`` with the parameter
first (``api.problems.ParameterRoute``); integers are written as the protocol writes them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import re
from collections import Counter
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BeforeValidator
from sqlalchemy import Engine, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from api.auth import ROLES_ATTR
from api.problems import ParameterRoute, Problem
from api.semantics import none_match, sent_method
from exchange import about as statement
from exchange import entries as entry_kinds
from exchange import equivocation, log, witness
from exchange.directory import Partner, load_directory
from exchange.errors import DirectoryError, SignatureRejected
from exchange.httpsig import ACCEPT_SIGNATURE, TAG, verify_request
from exchange.keys import BureauKey, load_or_create
from exchange.models import ExchangeNonce
from exchange.settings import exchange_settings

logger = logging.getLogger(__name__)
PREFIX = "/exchange/v1"
router = APIRouter(prefix=PREFIX, tags=["partner exchange"], route_class=ParameterRoute)
MAX = 2**63 - 1  # every integer parameter: 0..MAX (a signed 64-bit integer)
DIGITS = re.compile(r"0|[1-9][0-9]*")  # an integer as the protocol writes it
CHALLENGE = {"WWW-Authenticate": f'Signature realm="{TAG}"', "Accept-Signature": ACCEPT_SIGNATURE}


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


def target_uri(request: Request) -> str:
    """The URL a partner signed: our configured public URL + the path and query as sent."""
    base = exchange_settings().public_url(request.app.state.settings.public_base_url)
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    return base + raw.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")


def _check(request: Request, body: bytes) -> Partner:
    try:
        partners, _key = _bureau(request)
    except DirectoryError as exc:
        logger.error("partner request refused, the partner directory is unusable: %s", exc)
        raise Problem(503, "this bureau's partner directory cannot be read; its operators "
                      "have been told", slug="directory-unavailable") from None  # fmt: skip
    keys = {k.http_key_id: (p, k) for p in partners.values() for k in p.keys}
    uri = target_uri(request)
    try:
        verified = verify_request(
            sent_method(request), uri, request.headers.items(), body,
            keys={kid: k for kid, (_p, k) in keys.items()},
            nonce_store=nonce_store(_engine(request)),
            max_age=exchange_settings().exchange_signature_max_age,
        )  # fmt: skip
    except SignatureRejected as exc:
        # the URL the partner signs (the Host header's is the caller's words)
        logger.warning("partner request refused: %s %s: %s", request.method, uri, exc)
        raise Problem(401, str(exc), slug="signature-rejected", headers=CHALLENGE) from None
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
    key = _bureau(request)[1]
    cp = log.latest_checkpoint(
        _engine(request), key=key, max_age=exchange_settings().exchange_checkpoint_interval
    )
    with Session(_engine(request)) as session:  # with the partners' cosignatures on it
        text = witness.on_our_checkpoint(session, key.origin, cp.text)
    etag = '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(text, media_type="text/plain; charset=utf-8", headers=headers)


@router.get("/cosignatures", dependencies=PARTNER)
def cosignatures(request: Request) -> dict[str, Any]:
    """Our latest cosigned checkpoint of each log we witness (C2SP tlog-cosignature/v1):
    the origin's signed note with our cosignature line appended."""
    key = _bureau(request)[1]
    with Session(_engine(request)) as session:
        return {"witness": key.public.text, "cosigned": witness.served(session, key.origin)}


@router.get("/equivocations", dependencies=PARTNER)
def equivocations(request: Request) -> dict[str, Any]:
    """Every equivocation proof we hold (found by us or by partners), oldest first."""
    with Session(_engine(request)) as session:
        return {"proofs": equivocation.stored(session)}


def _integer(minimum: int) -> BeforeValidator:
    """An integer parameter in ``minimum..MAX`` written ``0|[1-9][0-9]*`` (ASCII digits only):
    no sign, space, ``_`` or leading zero, which the framework's lax parsing would accept."""

    def check(raw: object) -> object:
        if not isinstance(raw, str):
            return raw  # the route's default
        if not DIGITS.fullmatch(raw):
            raise ValueError('not an integer (decimal digits 0-9, without sign, space, "_" '
                             "or leading zero)")  # fmt: skip
        if len(raw) > len(str(MAX)) or not minimum <= int(raw) <= MAX:
            raise ValueError(f"outside {minimum}..{MAX}")
        return raw

    return BeforeValidator(check)


def _once(request: Request) -> None:
    """Each of the feed's parameters at most once: ``start=0&start=5`` was read as 5 (the
    framework keeps the last), where a proxy or a partner's client may read the first."""
    counts = Counter(k for k, _ in request.query_params.multi_items() if k in PARAMETERS)
    for name, n in counts.items():
        if n > 1:
            raise _bad(422, name, f"given {n} times; once is needed")


PARAMETERS = ("start", "end", "limit", "index", "size", "first", "second")
ONCE = [Depends(_once)]  # after the signature's check: a stranger learns nothing more
Natural = Annotated[int, Query(ge=0, le=MAX), _integer(0)]
Positive = Annotated[int, Query(ge=1, le=MAX), _integer(1)]


def _bad(status: int, parameter: str, reason: str) -> Problem:
    slug = "out-of-range" if status == 404 else "invalid-parameter"
    errors = [{"field": f"query.{parameter}", "reason": reason}]
    return Problem(status, f"{parameter}: {reason}", slug=slug, errors=errors)


def _within(size: int, parameter: str, value: int) -> None:
    if value > size:
        raise _bad(404, parameter, f"{value} is beyond the log, which has {size} entries")


@router.get("/entries", dependencies=PARTNER + ONCE)
def entries(
    request: Request,
    response: Response,
    start: Natural = 0,
    end: Annotated[Natural | None, Query(description="default: the current tree size")] = None,
    limit: Positive | None = None,
) -> dict[str, Any]:
    """Entries ``start <= seq < end`` in order, one page; ``Link: <…>; rel="next"`` for more:
    the rest of the range, with the same ``limit``."""
    page = min(limit or MAX, exchange_settings().exchange_page_size)
    with Session(_engine(request)) as session:
        size, _root = log.head_of(session)
        if end is not None:
            _within(size, "end", end)
        _within(size, "start", start)
        end = size if end is None else end
        if start > end:
            raise _bad(422, "start", f"{start} is after end ({end})")
        rows = log.entries_range(session, start, min(end, start + page))
    nxt = start + len(rows)
    if nxt < end:
        query = {"start": nxt, "end": end} | ({"limit": limit} if limit is not None else {})
        response.headers["Link"] = f'<{PREFIX}/entries?{urlencode(query)}>; rel="next"'
    return {"start": start, "end": end,
            "entries": [{"seq": seq, "entry": body} for seq, body in rows]}  # fmt: skip


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@router.get("/proof/inclusion", dependencies=PARTNER + ONCE)
def inclusion(request: Request, index: Natural, size: Positive) -> dict[str, Any]:
    """RFC 6962 PATH(index, D[size]); O(log size) stored hashes read."""
    if index >= size:
        raise _bad(422, "index", f"{index} is not a leaf of a tree of size {size}")
    with Session(_engine(request)) as session:
        _within(log.head_of(session)[0], "size", size)
        proof = log.inclusion(session, index, size)
    return {"index": index, "size": size, "proof": _b64(proof)}


@router.get("/proof/consistency", dependencies=PARTNER + ONCE)
def consistency(request: Request, first: Natural, second: Natural) -> dict[str, Any]:
    """RFC 6962 PROOF(first, D[second]); O(log second) stored hashes read."""
    if first > second:
        raise _bad(422, "first", f"{first} is larger than second ({second})")
    with Session(_engine(request)) as session:
        _within(log.head_of(session)[0], "second", second)
        proof = log.consistency(session, first, second)
    return {"first": first, "second": second, "proof": _b64(proof)}


@router.get("/keys", dependencies=PARTNER)
def keys(request: Request) -> dict[str, Any]:
    """This bureau's verifier keys (checkpoints and request signatures)."""
    key = _bureau(request)[1]
    return {"origin": key.origin, "keys": [key.public.text]}


@router.get("/about", dependencies=PARTNER)
def about(request: Request) -> dict[str, Any]:
    """What this feed says of itself, signed when sent: the protocol versions it serves, the
    entry kinds it reads, and that it keeps entries of other kinds unread
    (``exchange.about``; docs/exchange-protocol.md, "What a feed says of itself")."""
    key = _bureau(request)[1]
    said = statement.statement(key.origin, entry_kinds.KINDS, dt.datetime.now(dt.UTC))
    return statement.sign(said, key.private)
