"""The messages a draw queues, made once from sample facts before anything is decided.

A bureau edits its own templates (``SHUANGSUI_NOTIFY_TEMPLATE_DIR``). One that does not render
(a misspelt variable, a tag left open) stopped the draw inside its transaction, after the draw
had been made: nothing was kept, the round stayed committed, and the draw lost is in the audit
log as ``DrawNotRecorded``, holding the round to its seed. :func:`rehearse` makes the same
messages from sample facts (each inspector's notice as lead and as member, with certificates
and without, due and overdue, taking a withdrawn member's seat, and its reminder; the
enterprise's notice; the coordinator's summary) in every language, so that the commit, and the
draw before its seed is made, are refused naming the template and its line while nothing is
decided yet. ``notifications.hooks.install`` registers it in ``rounds.service.before_draw_hooks``.

A template that renders the samples and not some real message (one that tests a value only a
real enterprise has) still stops a draw inside its transaction; that draw is audited as lost.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from notifications import facts
from notifications.messages import (
    AssignmentMessages,
    CertInfo,
    EnterpriseInfo,
    Person,
    RoundInfo,
    coordinator_message,
    enterprise_notice_message,
    seat_taken,
)
from notifications.models import NotificationKind
from notifications.render import LANGUAGES, TemplateError
from notifications.settings import NotifySettings


def rehearse() -> None:
    """Make every message a draw queues from sample facts; ``TemplateError`` (a
    ``UserError`` naming the template and what is wrong in it) when one does not render."""
    notify = NotifySettings()
    try:
        _samples(notify)
    except TemplateError as exc:
        if notify.template_dir is None:  # ours: tested with every change, never expected here
            raise
        raise TemplateError(
            f"{exc}: in a message this round's draw would queue, made from sample facts before "
            "anything is decided (nothing was committed or drawn); mend the bureau's template in "
            f"{notify.template_dir} (SHUANGSUI_NOTIFY_TEMPLATE_DIR) and run it again"
        ) from None


def _samples(notify: NotifySettings) -> None:
    common = facts.common(notify=notify)
    today = common.today
    # due today: no working days are counted into a year the official calendar may not know
    info = RoundInfo(
        key="rehearsal-0001", title="模板演练", check_item="认证活动检查", check_item_code="R-01",
        legal_basis=["《认证认可条例》"], window_start=today, window_end=today,
    )  # fmt: skip
    enterprise = EnterpriseInfo("91350100MA2XXXXX0X", "演练企业有限公司", "福州市演练路 1 号")
    cert = CertInfo(body="演练认证机构", number="CN-R-0001", kind="management_system",
                    status="valid", scope="演练范围")  # fmt: skip
    for language in LANGUAGES:
        lead, member = (
            Person(f"R{n}", f"演练{n}", "演练单位", f"r{n}@example.cn", language=language)
            for n in (1, 2)
        )
        for kind in (NotificationKind.assignment, NotificationKind.reminder):
            messages = AssignmentMessages(common, info, kind)
            messages.team(
                enterprise=enterprise,
                certificates=[cert],
                team=[(lead, True, info.window_end), (member, False, info.window_end)],
                extra={member.inspector_id: seat_taken(lead, "conflict", lead=False)},
            )
            messages.team(enterprise=enterprise, certificates=[],
                          team=[(lead, True, today - timedelta(days=1))])  # fmt: skip
        enterprise_notice_message(common, round_info=info, enterprise=enterprise,
                                  team=[lead, member])  # fmt: skip
    coordinator = Person("coordinator", notify.coordinator_name,
                         language=notify.coordinator_language)  # fmt: skip
    row: dict[str, Any] = {
        "credit_code": enterprise.credit_code, "enterprise_name": enterprise.name,
        "team": ["演练1", "演练2"], "due_on": info.window_end.isoformat(),
    }  # fmt: skip
    coordinator_message(
        common, template="round_summary", kind=NotificationKind.round_summary, round_info=info,
        coordinator=coordinator, subject_key="summary",
        context={"counts": {"enterprises": 1, "inspectors": 2, "messages": 2}, "rows": [row],
                 "unreachable": [{"inspector_id": "R3", "name": "演练3"}]},
        payload={},
    )  # fmt: skip
