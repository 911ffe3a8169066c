"""The enterprise page's 作废原链接并重新发送 with a 链接版本 the page cannot have shown
(workspace/relinks.py): the hidden field says which generation of the member's link the
coordinator saw, so that the same form sent twice ends one. "²" (a digit to str.isdigit, not
to int) ended the request in a ValueError (no answer at all), and "-1", a blank or "٣" were
read as generation 0 and ended the link; now each is refused in Chinese naming the field,
nothing ended and nothing queued."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from tests.findings.factories import ROUND
from tests.workspace.helpers import coordinator_client, csrf_of


def _counts(engine: sa.Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(sa.text("SELECT count(*) FROM link_generation")).scalar_one(),
            conn.execute(sa.text("SELECT count(*) FROM audit_event WHERE event = 'LinkEnded'"))
            .scalar_one(),
            conn.execute(sa.text("SELECT count(*) FROM notification WHERE kind = 'link_reissued'"))
            .scalar_one(),
        )  # fmt: skip


def _relink(live: tuple[str, dict, str], **fields: str) -> tuple[httpx.Response, ...]:
    """The relink form of the first enterprise's first member sent with ``fields``, then
    again with generation "0", as the page gives it: both answers."""
    base, drawn, ssc = live
    code = sorted(drawn)[0]
    page = f"/w/c/rounds/{ROUND}/e/{code}"
    with coordinator_client(base, ssc) as http:
        form = {"csrf": csrf_of(http.get(page).text), "inspector_id": drawn[code][0], **fields}
        return tuple(
            http.post(f"{page}/relink", data=f) for f in (form, {**form, "generation": "0"})
        )


# "7", "999999999999": digits, but ahead of the member's link (at 0): no page showed them, and
# the member was sent a message saying their earlier link no longer opened, while it did
@pytest.mark.parametrize("generation", ["²", "٣", "-1", "", " 0", "0x0", "7", "999999999999"])
def test_a_generation_the_page_did_not_show_ends_nothing(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine, generation: str
) -> None:
    refused, done = _relink(coordinator_live, reason="手机遗失", end_old="1", generation=generation)
    assert refused.status_code == 422, refused.text[:300]
    assert "链接版本：不是本页表单给出的值" in refused.text
    assert "手机遗失" in refused.text  # the form kept as sent
    assert done.status_code == 303 and "ended=1" in done.headers["location"]
    assert _counts(engine) == (1, 1, 1)  # the refused one: nothing


def test_without_the_box_the_generation_is_not_read(
    coordinator_live: tuple[str, dict, str], engine: sa.Engine
) -> None:
    sent, again = _relink(coordinator_live, reason="通知删除了", generation="²")
    assert sent.status_code == 303, sent.text[:300]
    assert again.status_code == 303 and "before=1" in again.headers["location"]
    assert _counts(engine) == (0, 0, 1)
