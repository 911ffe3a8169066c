"""What a person sees of what we refuse of a partner's log.

An entry of a partner's signed log that we refuse stops that partner's sync for good, and
every place a person looks says so: which entry, which field, which rule, that nothing after it
can be applied, and that the partner must be told by a person (the exchange has no way to).

Fujian (the configured bureau, on SQLite and PostgreSQL) syncs real ``shuangsui serve``
processes of Shanghai and Jiangsu. Before, the refusal was a failed sync like a partner down
(``failed``, 同步失败), naming the entry and field only: nothing said that no later sync could
get past it, nor that Shanghai would learn nothing of it.

An assistance request to us that opens no case (a request id of more than 128 characters, a
credit code no column holds) cannot be answered: the protocol's answer names the request by
its id, which our log could not carry. It was a warning in the log alone, and the requesting
bureau learned nothing. Now ``partners status`` and the 执法协查 page list it, with the field
and the rule, for a person to call the bureau.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import httpx
import pytest

from tests.exchange.bureaus import Servers, publish
from tests.exchange.test_entry_kinds_said import A, B, C
from tests.exchange.test_hostile_partner import REQUEST, RESULT, Pair, _append, partners
from tests.servers import free_port
from tests.workspace.helpers import sign_in

__all__ = ["partners"]  # the fixture, imported for its use here

WHY = (
    "partner 310000: entry 1: id: 5007 characters, at most 512. Refused, and for good: the "
    "entry is in 310000's signed log, where nothing is removed and a correction would come "
    "after it, so no sync applies entry 1 or any after it. The exchange has no way to tell "
    "310000: tell its operators, naming entry 1 and this rule (docs/exchange-protocol.md, "
    '"An entry refused")'
)


def _page(t: Pair, logs: Path, path: str) -> str:
    """A page of Fujian's workspace, from its own ``shuangsui serve``, as a coordinator."""
    token = t.run("tokens", "create-coordinator", "李协调").stdout.strip()
    port = free_port()
    servers = Servers(logs)
    servers.start("350000", os.environ | {"SHUANGSUI_PUBLIC_BASE_URL":
                                          f"http://127.0.0.1:{port}"}, port)  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as http:
            assert sign_in(http, f"/w/c/open?token={token}").status_code == 303
            page = http.get(path)
        assert page.status_code == 200
        return page.text
    finally:
        servers.stop_all()


@pytest.mark.slow
def test_a_refused_entry_is_said_to_stop_the_partner_for_good(
    partners: Pair, tmp_path: Path
) -> None:
    t = partners
    publish(t.sh, A, n=0)
    _append(t.sh, "result/" + secrets.token_hex(2500), "result", RESULT | {"credit_code": B})
    publish(t.sh, B, n=2)
    publish(t.js, C, n=0)

    out = t.run("partners", "sync", code=1).stdout.splitlines()
    assert out == [f"310000 REFUSED: 0 -> 0 (0 new): {WHY}", "320000 ok: 0 -> 1 (1 new)"], out
    sh = t.state("310000")
    assert (sh.status, sh.size, sh.last_error) == ("refused", 0, WHY)
    assert t.held("310000") == []  # entry 0, before it, is not applied either

    # a later entry changes nothing: every sync stops at entry 1
    publish(t.sh, C, n=3)
    out = t.run("partners", "sync", "310000", code=1).stdout.splitlines()
    assert out == [f"310000 REFUSED: 0 -> 0 (0 new): {WHY}"], out
    assert t.held("310000") == []

    status = t.run("partners", "status").stdout
    assert "310000 局310000: refused, cursor 0," in status, status
    assert f"    why: {WHY}\n" in status, status

    page = _page(t, tmp_path, "/w/c/partners")
    row = page.split('id="p-310000"', 1)[1].split("</tr>", 1)[0]
    assert "<strong>条目被拒（其后条目均无法采用）</strong>" in row, row
    assert "entry 1: id: 5007 characters, at most 512. Refused, and for good" in row, row
    assert "它及其后的条目均无法采用" in row and "互换协议没有通知对方的途径" in row, row


@pytest.mark.slow
def test_a_request_that_opens_no_case_is_listed_for_a_person_to_call(
    partners: Pair, tmp_path: Path
) -> None:
    t = partners
    _append(t.sh, "assistance-request/long", "assistance-request",
            {"request_id": "r" * 129} | REQUEST)  # fmt: skip
    _append(
        t.sh,
        "assistance-request/code",
        "assistance-request",
        REQUEST | {"request_id": "310000-0123456789", "credit_code": "9" * 19},
    )
    _append(t.sh, "assistance-request/ok", "assistance-request",
            {"request_id": "r" * 128} | REQUEST)  # fmt: skip
    _append(
        t.sh,
        "assistance-request/other",
        "assistance-request",  # not to us
        REQUEST | {"request_id": "s" * 129, "to": "320000"},
    )
    proc = t.run("partners", "sync", "310000")
    assert proc.stdout == "310000 ok: 0 -> 4 (4 new)\n", proc.stderr
    assert ("assistance request of entry 0 from 310000 opens no case: request_id: 129 "
            "characters, at most 128; no answer can name it: tell 310000's operators"
            ) in proc.stderr  # fmt: skip

    status = t.run("partners", "status").stdout
    said = [line.strip() for line in status.splitlines() if "opens no case" in line]
    assert said == [
        "assistance request of entry 0 (assistance-request/long) opens no case: request_id: "
        "129 characters, at most 128; no answer can name it (an answer carries its request "
        "id): tell 310000's operators",
        "assistance request of entry 1 (assistance-request/code) opens no case: credit_code: "
        "text of at most 18 characters without a control or invisible character is needed; "
        "no answer can name it (an answer carries its request id): tell 310000's operators",
    ], status

    page = _page(t, tmp_path, "/w/c/assistance")
    section = page.split('id="unopened"', 1)[1].split("</section>", 1)[0]
    assert "未能受理的协查请求（2）" in section and "请直接联系该机关" in section, section
    items = [li.split("</li>")[0] for li in section.split("<li>")[1:]]
    assert [" ".join(li.split()) for li in items] == [
        "局310000（310000），日志条目 0（<small>assistance-request/long</small>）："
        "request_id：129 个字符，超过 128 个",
        "局310000（310000），日志条目 1（<small>assistance-request/code</small>）："
        "credit_code：须为不超过 18 个字符、不含控制或不可见字符的文本",
    ], items
