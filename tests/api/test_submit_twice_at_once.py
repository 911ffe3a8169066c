"""The inspector's 提交 sent twice at once to a real ``shuangsui serve`` (a double tap whose two
posts both reach the server, the same form in two tabs): both are answered as done and one
version is recorded, with its photos, no draft left; a correction sent twice likewise; and a
teammate's different version, sent meanwhile, is still refused (409, who came first).

Both posts carry the form the page showed (``base_version`` 0, then 1), so the second finds
the first's version in place; ``findings.service.add_version`` takes a version equal to the
latest, content and reason, as the same one (a retry: no version added, the poster's signature
kept), before it asks whether the post read the latest."""

from __future__ import annotations

import html
import re
import threading

import httpx
import sqlalchemy as sa
from sqlmodel import Session, select

from findings import service
from rounds.models import AuditEvent
from tests.api.test_limits import Server, server  # noqa: F401 - the fixture, shared
from tests.api.test_photo_form_bounded import _signed_in
from tests.findings.factories import ROUND
from tests.findings.media_samples import JPEG
from workspace import drafts

# the round's window opens on 2026-12-07, and the served process checks against the real today
FORM = {"result": "no_problem", "check_date": "2026-12-07", "description": "现场核对\r\n铭牌一致",
        "action": "submit"}  # fmt: skip
PHOTOS = [("photo", ("门头.jpg", JPEG, "image/jpeg")),
          ("photo", ("铭牌.jpg", JPEG[:-2] + b"\0\xff\xd9", "image/jpeg"))]  # fmt: skip


def _at_once(
    server: Server,  # noqa: F811
    http: httpx.Client,
    path: str,
    posts: list[dict[str, str]],
) -> list[httpx.Response]:
    """Each form posted to ``path`` from its own connection with ``http``'s session, all
    released at once, each with the same photos."""
    barrier = threading.Barrier(len(posts))
    out: list[httpx.Response | BaseException | None] = [None] * len(posts)

    def post(i: int) -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=120, cookies=http.cookies) as own:
                own.get("/health")  # connected before the start
                barrier.wait(timeout=30)
                out[i] = own.post(path, data=posts[i], files=PHOTOS,
                                  headers={"Origin": server.url})  # fmt: skip
        except BaseException as exc:  # said by the test, not lost in the thread
            out[i] = exc

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(posts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert all(isinstance(r, httpx.Response) for r in out), out
    return out  # type: ignore[return-value]


def _drafts_saved(engine: sa.Engine) -> int:
    with Session(engine) as s:
        return len(s.exec(select(AuditEvent).where(AuditEvent.event == "DraftSaved")).all())


def test_the_same_submission_twice_at_once_is_done_once_and_told_so_twice(
    server: Server,  # noqa: F811
    engine: sa.Engine,
) -> None:
    with httpx.Client(base_url=server.url, timeout=120) as http:
        path, csrf = _signed_in(http, server)
        first = {"csrf": csrf, **FORM, "base_version": "0"}
        for r in _at_once(server, http, path, [first, first]):
            assert r.status_code == 303, html.unescape(r.text)[:600]
            assert r.headers["location"].endswith("?submitted=1")
        (v1,) = service.history(engine, ROUND, server.code).versions
        assert _drafts_saved(engine) == 2  # both posts were read through
        assert [e["filename"] for e in v1.evidence] == ["门头.jpg", "铭牌.jpg"]
        assert list(drafts.drafts_dir(server.home).glob("*.json")) == []  # none left behind
        again = {"csrf": csrf, **FORM, "base_version": "1", "reason": "补充说明"}
        for r in _at_once(server, http, path, [again, again, again]):
            assert r.status_code == 303, html.unescape(r.text)[:600]
        assert [v.version for v in service.history(engine, ROUND, server.code).versions] == [1, 2]
        # what another version, sent on the page of version 1, meets now: refused as before
        late = http.post(path, data={**again, "description": "另一说法"}, files=PHOTOS,
                         headers={"Origin": server.url})  # fmt: skip
        said = html.unescape(late.text)
        assert late.status_code == 409 and re.search("您本人已于 .* 提交了第 2 版", said), said[
            :600
        ]
    assert len(service.history(engine, ROUND, server.code).versions) == 2
