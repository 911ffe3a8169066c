"""A drawn round whose notices sit in the file outbox, and links read back from them; what the
workspace's tests do to it (sign in: a link's page, then its button; revoke links, give up a
notice)."""

from __future__ import annotations

import email
import email.policy
import html
import http.server
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page
from sqlmodel import Session, select

from api import inspector_tokens
from findings.service import submit
from notifications.dispatch import dispatch
from notifications.links import assignment_token
from notifications.models import Notification, NotificationStatus
from rounds import replacements
from rounds.replacements import replace_member
from shuangsui.config import get_settings
from tests.findings.factories import ROUND, drawn_round, final_finding, finding, teams
from tests.servers import free_port

LINK = re.compile(r"https?://[^\s\"'<>]+/w/open/[^\s\"'<>]+")
COORDINATOR = "李协调"  # whose token ``coordinator_live`` serves with


def delivered_round(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Draw ``ccc-2026-12`` and deliver its notices to the file outbox; the teams."""
    monkeypatch.setenv("SHUANGSUI_NOTIFY_CHANNEL", "file")
    teams = drawn_round(engine)
    dispatch(engine=engine)
    return teams


def final_and_waiting(engine: sa.Engine, teams: dict[str, list[str]]) -> tuple[str, str]:
    """The round's first two enterprises (by credit code): the first's finding final (both
    signed), the second's submitted and signed by its first inspector only."""
    (done, done_team), (waiting, waiting_team), *_ = sorted(teams.items())
    final_finding(engine, done, done_team)
    submit(engine, round_key=ROUND, credit_code=waiting, data=finding(),
           submitted_by=f"inspector:{waiting_team[0]}", signers=[waiting_team[0]])  # fmt: skip
    return done, waiting


def _text(path: Path) -> str:
    if path.suffix == ".eml":
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        parts = [p.get_content() for p in msg.walk() if p.get_content_maintype() == "text"]
        return "\n".join(str(p) for p in parts) + str(msg["To"])
    return json.dumps(json.loads(path.read_text(encoding="utf-8")), ensure_ascii=False)


def outbox_link(credit_code: str, inspector_id: str, base_url: str) -> str:
    """The link in ``inspector_id``'s notice for ``credit_code``, pointed at ``base_url``."""
    secret = get_settings().secret_key.get_secret_value()
    token = assignment_token(secret, ROUND, credit_code, inspector_id)
    outbox = Path(get_settings().home) / "outbox"
    for path in sorted(outbox.rglob("*.*")):
        for link in LINK.findall(_text(path)):
            if link.endswith(f"token={token}"):
                return base_url + link[link.index("/w/open/") :]
    raise AssertionError(f"no notice for {inspector_id} on {credit_code} in {outbox}")


SIGN_IN_FORM = re.compile(
    r'<form method="post" action="([^"]+)" id="sign-in">\s*'
    r'<input type="hidden" name="token" value="([^"]+)">'
)


def sign_in_form(page: httpx.Response) -> tuple[str, str]:
    """The sign-in page's form (a GET of a link answers it): its address, absolute, and the
    token it posts."""
    assert page.status_code == 200, page.text[:500]
    assert "set-cookie" not in page.headers  # the GET signs nobody in
    found = SIGN_IN_FORM.search(page.text)
    assert found, page.text[:1000]
    action = html.unescape(found.group(1))
    return urljoin(str(page.url), action), html.unescape(found.group(2))


def sign_in(http: httpx.Client, link: str, **headers: str) -> httpx.Response:
    """Open a sign-in ``link`` (an inspector's notice's, a coordinator's ``/w/c/open?token=``)
    as a person does: its page, then its button (a POST of the token from our own origin);
    the POST's answer (a 303 to the page, with the session cookie)."""
    action, token = sign_in_form(http.get(link, headers=headers))
    own = "{0.scheme}://{0.netloc}".format(urlsplit(action))
    return http.post(
        action, data={"token": token}, headers={"Origin": own, **headers}, follow_redirects=False
    )


def sign_in_page(page: Page, link: str) -> None:
    """The same in Chromium: the link's page, then its button."""
    page.goto(link)
    page.locator("#sign-in button").click()
    page.wait_for_load_state()


def read_back(page: Page, link: str, round_url: str, witnesses: str, digits: str) -> None:
    """In Chromium, signed in by a coordinator's ``link``, a round's ceremony entered on its
    page (``round_url``) and sent to be read back to the witnesses: the read-back page is
    shown, nothing drawn yet."""
    sign_in_page(page, link)
    page.goto(round_url)
    page.fill("#witnesses", witnesses)
    page.fill("#witness_digits", digits)
    with page.expect_navigation():
        page.click("text=下一步：请见证人核对")


def open_assignment(
    http: httpx.Client, base: str, credit_code: str, inspector_id: str
) -> tuple[str, str]:
    """Open ``inspector_id``'s link on ``credit_code``: the page's path and its HTML."""
    first = sign_in(http, outbox_link(credit_code, inspector_id, base))
    assert first.status_code == 303, first.text
    page = http.get(first.headers["location"])
    assert page.status_code == 200, page.text
    return urlsplit(str(page.url)).path, page.text


# a PNG that decodes (8×8, blue), as a phone's photo is shown: a thumbnail
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000080000000808020000004b6d29dc000000114944415478da63"
    "908b3a8115310c2d09001819500147b69ab30000000049454e44ae426082"
)

# a finding's form as a member fills it in, and a version of it submitted
FORM = {"result": "no_problem", "check_date": "2026-12-10", "description": "现场检查，证书有效"}


def submitted(engine: sa.Engine, code: str, inspector: str) -> None:
    """``inspector`` submits ``FORM`` as the finding's next version on ``code``, signing it."""
    from findings.schemas import FindingIn

    submit(engine, round_key=ROUND, credit_code=code, data=FindingIn.model_validate(FORM),
           submitted_by=f"inspector:{inspector}", signers=[inspector])  # fmt: skip


def errors_of(page_html: str) -> str:
    """A workspace page's refusal banner, as text."""
    found = re.search(r'<section class="banner banner-stop"[^>]*>(.*?)</section>', page_html, re.S)
    assert found, page_html[:500]
    return re.sub(r"<[^>]+>", "", found.group(1))


@contextmanager
def on_a_phone_page(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch, member: int = 0
) -> Iterator[tuple[Page, str, list[str]]]:
    """A served round, notices delivered, and the first enterprise's ``member`` (0: the lead)
    signed in on its page in Chromium at 390 px, JavaScript off: (the page, the enterprise, its
    team)."""
    from api.app import create_app
    from tests.browser import headless, phone
    from tests.findings.live import serve

    teams = delivered_round(engine, monkeypatch)
    code, team = sorted(teams.items())[0]
    with serve(create_app(engine=engine)) as base, headless() as browser:
        page = phone(browser).new_page()
        sign_in_page(page, outbox_link(code, team[member], base))
        yield page, code, team


TYPED = "现场核对铭牌与证书一致"  # what ``fill_form`` types as 检查情况


def fill_form(page: Page, result: str = "no_problem", day: str = "2026-12-10") -> None:
    """The findings form filled on a phone's page: the result, the check date, ``TYPED``."""
    page.get_by_label("检查结果").select_option(value=result)
    page.get_by_label("检查日期").fill(day)
    page.get_by_label("检查情况").fill(TYPED)


def fits(page: Page, shot: Path, typed: str = TYPED) -> None:
    """The form as typed (``typed`` as 检查情况), nothing wider than the phone; a screenshot."""
    from tests.browser import PHONE

    assert page.get_by_label("检查情况").input_value() == typed
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(shot), full_page=True)


@contextmanager
def coordinator_client(base: str, ssc: str, *, timeout: float = 5.0) -> Iterator[httpx.Client]:
    """A client of ``base`` signed in with the coordinator's token ``ssc`` (its requests given
    ``timeout`` seconds: longer for one a test holds while something else is done)."""
    with httpx.Client(base_url=base, timeout=timeout) as http:
        assert sign_in(http, f"/w/c/open?token={ssc}").status_code == 303
        yield http


def end_link(base: str, ssc: str, credit_code: str, inspector_id: str, reason: str) -> str:
    """The coordinator ends ``inspector_id``'s link to ``credit_code`` as a person does: the
    enterprise page's relink form with 作废原链接并重新发送 ticked (a new link is queued); the
    page the form sends them back to."""
    page = f"/w/c/rounds/{ROUND}/e/{credit_code}"
    with coordinator_client(base, ssc) as http:
        form = {"csrf": csrf_of(http.get(page).text), "inspector_id": inspector_id,
                "reason": reason, "end_old": "1", "generation": "0"}  # fmt: skip
        location = http.post(f"{page}/relink", data=form).headers["location"]
    assert "ended=1" in location
    return str(location)


REPLACED_NOTE = "与企业负责人系亲属"  # the audited note: the member is told the cause only


def replace_in_team(engine: sa.Engine, credit_code: str, inspector_id: str) -> str:
    """``COORDINATOR`` withdraws ``inspector_id`` from ``credit_code``'s team (回避, §14); who
    took the seat."""
    before = teams(engine)[credit_code]
    replace_member(engine, ROUND, credit_code, inspector_id, cause="conflict",
                   note=REPLACED_NOTE, recorded_by=COORDINATOR)  # fmt: skip
    (seat,) = [m for m in teams(engine)[credit_code] if m not in before]
    return seat


def replacement_held(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Every replacement from now on held inside its transaction, the seat moved and not
    committed (a hook of ``rounds.replacements``): the first event is set when it is held
    there, and it goes on once the second is."""
    inside, go = threading.Event(), threading.Event()

    def held(session: Session, round_key: str, replaced: object) -> None:
        inside.set()
        assert go.wait(60), "the test never let the replacement go on"

    hooks = [*replacements.after_replacement_hooks, held]
    monkeypatch.setattr(replacements, "after_replacement_hooks", hooks)
    return inside, go


def bearer(credit_code: str, inspector_id: str) -> dict[str, str]:
    """The Authorization header of ``inspector_id``'s link token on ``credit_code``, for the
    API."""
    secret = get_settings().secret_key.get_secret_value()
    return {"Authorization": f"Bearer {assignment_token(secret, ROUND, credit_code, inspector_id)}"}


def revoke_links(engine: sa.Engine, inspector: str) -> None:
    """``COORDINATOR`` revokes ``inspector``'s links in the round: moved elsewhere (调离)."""
    inspector_tokens.revoke(engine, inspector, round_key=ROUND, by=COORDINATOR, reason="调离")


def dead_letter(engine: sa.Engine) -> int:
    """The round's first notice, marked dead (its delivery given up); its id."""
    with Session(engine) as s:
        dead = s.exec(select(Notification).where(Notification.round_key == ROUND)).first()
        assert dead is not None and dead.id is not None
        dead.status = NotificationStatus.dead
        s.add(dead)
        s.commit()
        return dead.id


def csrf_of(html: str, action: str = "") -> str:
    """The CSRF token of the page's (first) form."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def record_equivocation(engine: sa.Engine, *, partners_head: str = "") -> list[tuple[str, str]]:
    """A partner (Shanghai) that signed two checkpoints of one size, as the exchange records
    it: ``partners.toml`` naming it (``partners_head`` first: settings such as a witness
    quorum), its state flagged and the proof stored; the two signed checkpoints (with what
    was noted of each). The partners page shows the proof."""
    import datetime as dt

    from sqlmodel import Session

    from draw.canonical import canonical_json
    from exchange.equivocation import build
    from exchange.keys import load_or_create
    from exchange.models import EquivocationProof, PartnerState
    from exchange.notes import format_checkpoint
    from tests.exchange.test_crypto import _key

    sh = _key()
    get_settings().home.mkdir(parents=True, exist_ok=True)
    (get_settings().home / "partners.toml").write_text(
        f'{partners_head}[[partner]]\ncode = "310000"\nname = "上海市认证执法局"\n'
        f'division = "310000"\nbase_url = "http://127.0.0.1:8310/"\nkeys = ["{sh.public.text}"]\n',
        encoding="utf-8",
    )
    at = dt.datetime(2026, 11, 30, 18, 10, tzinfo=dt.UTC)
    notes = [(format_checkpoint(sh.origin, 7, bytes([n]) * 32, at, sh.private), f"seen {n}")
             for n in (1, 2)]  # fmt: skip
    proof = build(sh.public, notes, load_or_create(), at)
    with Session(engine) as s:
        s.add(PartnerState(partner_code="310000", size=5, status="equivocated", flagged=True,
                           last_error="partner 310000 EQUIVOCATED"))  # fmt: skip
        s.add(EquivocationProof(origin=sh.origin, size=7, found_by=proof["statement"]["found_by"],
                                digest="d" * 64, proof=canonical_json(proof).decode(),
                                detected_at=at))  # fmt: skip
        s.commit()
    return notes


@contextmanager
def attacker_site(page_html: str) -> Iterator[int]:
    """A page of another site (``localhost`` or another origin: its own port on loopback),
    serving ``page_html``; its port."""

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page_html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def checked_write_waited_for(
    engine: sa.Engine, code: str, member: str, meanwhile: Callable[[], object], event: str
) -> None:
    """A submission by ``member`` to ``code`` that has checked its link and is about to write
    when ``meanwhile`` (an ending or a revocation of that link) starts: ``meanwhile`` waits
    until the write has committed, and the round's chain records the finding, then ``event``.
    PostgreSQL, where each statement reads what is committed when it starts."""
    from sqlmodel import Session

    from api import inspector_tokens
    from findings import service
    from rounds import audit
    from shuangsui.config import get_settings
    from tests.findings.factories import ROUND, finding
    from tests.races import held_until_blocked

    def write(allowed: Callable[[Session], None]) -> Any:
        return service.submit(engine, round_key=ROUND, credit_code=code, data=finding(),
                              submitted_by=f"inspector:{member}", signers=[member],
                              allowed=allowed)  # fmt: skip

    written = held_until_blocked(
        engine, write, inspector_tokens.still_open(get_settings(), ROUND, code, member),
        meanwhile=meanwhile, message=f"{event} committed while a checked write was open",
    )  # fmt: skip
    assert written.version == 1
    with Session(engine) as s:
        chain = audit.load_chain(s, ROUND)
    assert [e.event for e in chain if e.event in ("FindingRecorded", event)] == [
        "FindingRecorded", event,
    ]  # fmt: skip


def kept_boxes(page: str) -> list[str]:
    """The read-only boxes of a refusal that gives back a post (``workspace.kept``), their text
    as the browser reads it."""
    boxes = re.findall(r"<textarea id=\"kept-\d+\" readonly[^>]*>(.*?)</textarea>", page, re.S)
    return [html.unescape(b) for b in boxes]


def post_state(engine: sa.Engine, code: str, member: str) -> tuple[object, ...]:
    """What an inspector's post could have changed: the draft, the versions, the files, the
    audit log."""
    from findings.history import history
    from findings.models import Evidence
    from rounds.models import AuditEvent
    from workspace import drafts

    with Session(engine) as s:
        files = len(s.exec(select(Evidence)).all())
        events = len(s.exec(select(AuditEvent)).all())
    draft = drafts.load(get_settings().home, ROUND, code, member)
    return draft, len(history(engine, ROUND, code).versions), files, events


def typed_on_a_phone(
    base: str, code: str, member: str, text: str, meanwhile: Callable[[], object], shot: Path
) -> dict[str, Any]:
    """``member`` types ``text`` as 检查情况 on a phone with JavaScript off, ``meanwhile`` is
    done, then 保存草稿 (the page's screenshot at ``shot``): the box of that name on the
    answer (``typed``, ``readonly``), the banner, the page's width, and the page opened
    again (``reloaded``)."""
    from tests.browser import headless, phone

    with headless() as browser:
        page = phone(browser).new_page()  # JavaScript off
        sign_in_page(page, outbox_link(code, member, base))
        page.get_by_label("检查结果").select_option("no_problem")
        page.get_by_label("检查日期").fill("2026-12-10")
        page.get_by_label("检查情况").fill(text)
        meanwhile()
        page.get_by_role("button", name="保存草稿").click()
        page.wait_for_load_state()
        page.screenshot(path=str(shot), full_page=True)
        box = page.get_by_label("检查情况")
        seen = {"typed": box.input_value(), "readonly": box.get_attribute("readonly"),
                "banner": page.locator("#refused").inner_text(),
                "width": page.evaluate("document.documentElement.scrollWidth")}  # fmt: skip
        page.goto(page.url)  # kept nowhere: the page opened again is the plain refusal
        seen["reloaded"] = page.content()
    return seen
