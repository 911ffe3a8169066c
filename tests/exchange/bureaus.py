"""Partner bureaus for exchange tests: own settings, database, keys and app, served in-process
or by real ``shuangsui serve`` processes (``Servers``)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from draw.canonical import canonical_json
from draw.merkle import leaf_hash
from exchange import log, proofs
from exchange.directory import Partner, load_directory
from exchange.keys import BureauKey, load_or_create
from exchange.models import ExchangeEntry, ExchangeHead, ExchangeNode
from exchange.notes import format_checkpoint
from exchange.publish import result_body
from exchange.settings import exchange_settings
from shuangsui import db
from shuangsui.config import Settings
from tests.servers import free_port, serve_app, serve_process


@dataclass
class Bureau:
    code: str
    home: Path
    engine: sa.Engine
    key: BureauKey
    settings: Settings
    base_url: str = ""

    @property
    def origin(self) -> str:
        return f"shuangsui.{self.code}"


def make_bureau(tmp_path: Path, code: str, url: str | None = None) -> Bureau:
    home = tmp_path / f"bureau-{code}"
    url = url or f"sqlite:///{home / 'shuangsui.db'}"
    home.mkdir(parents=True, exist_ok=True)
    db.migrate(url)
    settings = Settings(home=home, bureau_code=code, database_url=url, environment="test")
    return Bureau(code, home, db.make_engine(url), load_or_create(home / "keys", code), settings)


def write_directory(path: Path, partners: list[Bureau]) -> None:
    text = ""
    for p in partners:
        text += (f'[[partner]]\ncode = "{p.code}"\nname = "局{p.code}"\ndivision = "{p.code}"\n'
                 f'base_url = "{p.base_url}"\nkeys = ["{p.key.public.text}"]\n\n')  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def pulled_by_fujian(
    tmp_path: Path, partner: Bureau, url: str | None = None
) -> tuple[Bureau, Partner]:
    """Fujian (350000, the configured bureau: its key and its directory where
    ``SHUANGSUI_HOME`` keeps them; its database ``url`` or a file under ``tmp_path``) and
    ``partner`` (its ``base_url`` set), each in the other's directory, Fujian's feed served
    nowhere. Fujian, and ``partner`` as Fujian's directory has it, ready for a sync."""
    fj = make_bureau(tmp_path, "350000", url)
    fj.key, fj.base_url = load_or_create(), "http://127.0.0.1:1"
    write_directory(exchange_settings().partners_path, [partner])
    write_directory(partner.home / "partners.toml", [fj])
    return fj, load_directory()[partner.code]


class AppTransport(httpx.BaseTransport):
    """A sync transport into an ASGI app (each request on a fresh event loop)."""

    def __init__(self, app: object):
        self.inner = httpx.ASGITransport(app=app)  # type: ignore[arg-type]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def go() -> httpx.Response:
            resp = await self.inner.handle_async_request(request)
            body = await resp.aread()
            return httpx.Response(resp.status_code, headers=resp.headers, content=body)

        return asyncio.run(go())


def app_of(bureau: Bureau, public_url: str | None = None):  # type: ignore[no-untyped-def]
    """The bureau's API app; its feed's public URL is ``public_url`` or its ``base_url``."""
    from api.app import create_app

    url = public_url or bureau.base_url or bureau.settings.public_base_url
    settings = bureau.settings.model_copy(update={"public_base_url": url})
    return create_app(engine=bureau.engine, settings=settings)


def transport_of(bureau: Bureau) -> httpx.BaseTransport:
    """A sync transport into the bureau's own API app (reached at its ``base_url``)."""
    return AppTransport(app_of(bureau))


def publish(bureau: Bureau, credit_code: str, *, day: str = "2026-11-15",
            item: str = "CCC-01", n: int = 0) -> str:  # fmt: skip
    body = result_body(credit_code=credit_code, check_item=item,
                       inspected_on=dt.date.fromisoformat(day), outcome="合格",
                       round_key=f"{bureau.code}-r{n}")  # fmt: skip
    entry_id = f"result/{bureau.code}/{credit_code}/{n}"
    with Session(bureau.engine) as session:
        log.append(session, origin=bureau.origin, entry_id=entry_id, kind="result", body=body)
        session.commit()
    return entry_id


def rewrite_entry(bureau: Bureau, seq: int, original: str | None = None) -> str:
    """What a bureau that rewrites its history does: change an entry, recompute the tree.
    Returns the entry as it was (pass it as ``original`` to put history back)."""
    with Session(bureau.engine) as session:
        row = session.get(ExchangeEntry, seq)
        assert row is not None
        before = row.body
        doc = json.loads(row.body)
        doc["body"]["outcome"] = "不合格 (rewritten)"
        data = original.encode() if original else canonical_json(doc)
        row.body, row.leaf_hash = data.decode(), leaf_hash(data).hex()
        session.add(row)
        session.flush()
        hashes = [bytes.fromhex(h) for h in session.exec(
            select(ExchangeEntry.leaf_hash).order_by(ExchangeEntry.seq)).all()]  # fmt: skip
        frontier: list[bytes] = []
        session.execute(sa.delete(ExchangeNode))
        for i, h in enumerate(hashes):
            for level, index, x in proofs.frontier_append(frontier, i, h):
                session.add(ExchangeNode(level=level, index=index, hash=x.hex()))
        head = session.get(ExchangeHead, 1)
        assert head is not None
        head.frontier = [h.hex() for h in frontier]
        session.add(head)
        session.commit()
    return before


def forged_checkpoint(text: str, origin: str) -> str:
    """The same checkpoint body signed by a key that is not the partner's."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    lines = text.split("\n")
    when = dt.datetime.strptime(lines[3][5:], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    import base64

    return format_checkpoint(origin, int(lines[1]), base64.b64decode(lines[2]), when,
                             Ed25519PrivateKey.generate())  # fmt: skip


class Faulty(httpx.BaseTransport):
    """Wraps a transport; ``mode`` injects one fault into the partner's answers."""

    def __init__(self, inner: httpx.BaseTransport, origin: str):
        self.inner, self.origin, self.mode, self.pages = inner, origin, "", 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "down":
            raise httpx.ConnectError("connection refused", request=request)
        is_page = request.url.path.endswith("/entries")
        if self.mode == "down-mid-sync" and is_page:
            self.pages += 1
            if self.pages > 1:
                raise httpx.ReadError("partner stopped", request=request)
        resp = self.inner.handle_request(request)
        body = resp.read()
        headers = dict(resp.headers)
        headers.pop("content-length", None)
        if self.mode == "forged" and request.url.path.endswith("/checkpoint"):
            body = forged_checkpoint(body.decode(), self.origin).encode()
        elif is_page and self.mode in ("truncated", "gap", "cut", "tampered"):
            doc = json.loads(body)
            if self.mode == "truncated":
                doc["entries"] = doc["entries"][:-1]
                headers.pop("link", None)
            elif self.mode == "gap" and len(doc["entries"]) > 1:
                del doc["entries"][0]
            elif self.mode == "tampered":
                doc["entries"][0]["entry"] = doc["entries"][0]["entry"].replace("合格", "不合格")
            body = json.dumps(doc, ensure_ascii=False).encode()
            if self.mode == "cut":
                body = body[: len(body) // 2]
        return httpx.Response(resp.status_code, headers=headers, content=body)


@contextlib.contextmanager
def served(bureau: Bureau, port: int | None = None, public_url: str | None = None) -> Iterator[str]:
    """The bureau's real API (uvicorn) on a loopback port, in a thread; yields its URL, which
    is also its feed's public URL unless ``public_url`` names another (a proxy's)."""
    port = port or free_port()
    app = app_of(bureau, public_url or f"http://127.0.0.1:{port}")
    with serve_app(app, port=port) as url:
        yield url


class Servers:
    """Real ``shuangsui serve`` processes of bureaus, each started and stopped by its name (a
    test stops a bureau and starts it again). One is ready once its feed answers an unsigned
    request (401); its output goes to ``serve-<name>.log`` in ``logs``."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: dict[str, contextlib.ExitStack] = {}

    def start(self, name: str, env: dict[str, str], port: int) -> None:
        log = self.logs / f"serve-{name}.log"
        with contextlib.ExitStack() as stack:  # kept open past this block once the server is ready
            stack.enter_context(serve_process(env, port, log, ready=("/exchange/v1/keys", 401),
                                              name=f"shuangsui serve of {name}"))  # fmt: skip
            self.running[name] = stack.pop_all()

    def stop(self, name: str) -> None:
        server = self.running.pop(name, None)
        if server is not None:
            server.close()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def heard_from_fujian(bureau: Bureau, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let ``bureau``'s log take a kind outside the first six (``exchange.kinds``): its writer
    reads ``bureau``'s own directory (``monkeypatch``), whose one partner is Fujian (the
    configured bureau), and has taken what Fujian's feed says of itself, signed by Fujian's key
    now, as its sync takes it: Fujian keeps entries of kinds it does not know."""
    from exchange import about, entries, kinds
    from exchange.directory import read_directory

    path = bureau.home / "partners.toml"
    monkeypatch.setenv("SHUANGSUI_PARTNERS_FILE", str(path))
    fj, now = load_or_create(), dt.datetime.now(dt.UTC)
    said = about.sign(about.statement(fj.origin, entries.KINDS, now), fj.private)
    kinds.keep(
        bureau.engine, "350000", kinds.taken(said, read_directory(path).partners["350000"], now)
    )


@contextlib.contextmanager
def asked_by_shanghai(engine: sa.Engine, tmp_path: Path, request: dict) -> Iterator[Bureau]:
    """Shanghai, served on loopback, asks us (``engine``, Fujian 350000 in these tests) for
    assistance: its ``assistance-request`` entry with ``request`` (request_id, credit_code,
    division, check_item, cert_kinds, reason, window) in its log; Shanghai in our directory
    (``tmp_path / "home" / "partners.toml"``) and pulled by a real sync: a pending incoming case."""
    from exchange.directory import load_directory
    from exchange.sync import sync_partner

    sh = make_bureau(tmp_path, "310000")
    fj = make_bureau(tmp_path / "unused", "350000")
    fj.key, fj.base_url = load_or_create(), "http://127.0.0.1:9"
    write_directory(sh.home / "partners.toml", [fj])
    with Session(sh.engine) as s:
        log.append(s, origin=sh.origin, entry_id=f"assistance-request/{request['request_id']}",
                   kind="assistance-request", body={"to": "350000", **request})  # fmt: skip
        s.commit()
    with served(sh) as url:
        sh.base_url = url
        write_directory(tmp_path / "home" / "partners.toml", [sh])
        assert sync_partner(engine, load_directory()["310000"]).status == "ok"
        yield sh
