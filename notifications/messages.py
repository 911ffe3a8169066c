"""Building messages from plain facts: routing, template context, idempotency keys. No I/O.

Each message carries only what its recipient needs: an inspector's assignment names that
inspector's enterprise and co-inspectors (names and units, never their contacts), nothing else.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from notifications.links import (
    assignment_tokens,
    idempotency_key,
    idempotency_keys,
    submission_links,
)
from notifications.models import Channel, NotificationKind
from notifications.render import Template, language_of, render, template
from notifications.workdays import working_days_between
from registry.models import certificate_kind_label, certificate_status_label
from registry.validate import EMAIL_ADDRESS
from shuangsui.text import one_line as text_one_line

_WEBHOOK_CHANNELS = {
    "generic": Channel.webhook,
    "dingtalk": Channel.dingtalk,
    "wecom": Channel.wecom,
}


@dataclass(frozen=True)
class Person:
    """An inspector (or the coordinator) as messages see them."""

    inspector_id: str
    name: str
    unit: str = ""
    email: str = ""
    webhook_url: str = ""
    webhook_kind: str = "generic"
    language: str = "zh"


@dataclass(frozen=True)
class RoundInfo:
    key: str
    title: str
    check_item: str
    check_item_code: str
    legal_basis: list[str]
    window_start: date
    window_end: date


@dataclass(frozen=True)
class EnterpriseInfo:
    credit_code: str
    name: str
    address: str = ""


@dataclass(frozen=True)
class CertInfo:
    body: str
    number: str
    kind: str
    status: str
    scope: str = ""


@dataclass(frozen=True)
class Outgoing:
    """One message, ready for the outbox."""

    idempotency_key: str
    round_key: str
    kind: NotificationKind
    recipient: str
    channel: Channel
    address: str
    language: str
    subject: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Common:
    """What every message of a run shares: secrets, links, template directory, today."""

    secret: str
    public_base_url: str
    bureau_name: str
    today: date
    override_dir: Path | None = None


def route(person: Person) -> tuple[Channel, str]:
    """The channel and address to reach ``person``: email first, then their robot/webhook."""
    email = person.email.strip()
    if email and EMAIL_ADDRESS.match(email):
        return Channel.email, email
    url = person.webhook_url.strip()
    if url.startswith(("https://", "http://")):
        return _WEBHOOK_CHANNELS.get(str(person.webhook_kind), Channel.webhook), url
    return Channel.none, ""


def one_line(text: str) -> str:
    """A registry text (a name, a unit, an address) as a message writes it: its line breaks
    spaces. The registry takes a text of several lines, and on lines of their own a name's
    words could pass for the message's: "请改用以下链接签字确认：" and a link, above the
    recipient's own, in a message the bureau sent."""
    return " ".join(text.splitlines())


def _enterprise_ctx(e: EnterpriseInfo) -> dict[str, str]:
    return {"name": one_line(e.name), "credit_code": e.credit_code, "address": one_line(e.address)}


def _person_ctx(p: Person) -> dict[str, str]:
    return {"name": one_line(p.name), "unit": one_line(p.unit)}


def _certificates_ctx(certificates: list[CertInfo]) -> list[dict[str, str]]:
    """Each certificate as its fields (``kind`` and ``status`` as the registry's values, for a
    bureau's own templates that test them) and ``kind_label`` and ``status_label`` in Chinese."""
    return [
        {**c.__dict__, "kind_label": certificate_kind_label(c.kind),
         "status_label": certificate_status_label(c.status)}
        for c in certificates
    ]  # fmt: skip


def _round_ctx(r: RoundInfo) -> dict[str, Any]:
    return {
        "key": r.key,
        "title": r.title,
        "check_item": r.check_item,
        "check_item_code": r.check_item_code,
        "legal_basis": list(r.legal_basis),
        "window_start": r.window_start.isoformat(),
        "window_end": r.window_end.isoformat(),
    }


def _make(
    common: Common,
    template: str,
    kind: NotificationKind,
    round_key: str,
    recipient: str,
    subject_key: str,
    who: Person,
    context: dict[str, Any],
    payload: dict[str, Any],
) -> Outgoing:
    channel, address = route(who)
    ctx = {"bureau_name": common.bureau_name, "today": common.today.isoformat(), **context}
    rendered = render(template, who.language, ctx, override_dir=common.override_dir)
    return Outgoing(
        idempotency_key=idempotency_key(round_key, kind.value, recipient, subject_key),
        round_key=round_key,
        kind=kind,
        recipient=recipient,
        channel=channel,
        address=address,
        language=who.language,
        subject=rendered.subject,
        body=rendered.body,
        payload={"kind": kind.value, "round_key": round_key, **payload},
    )


def assignment_message(
    common: Common,
    *,
    round_info: RoundInfo,
    enterprise: EnterpriseInfo,
    certificates: list[CertInfo],
    inspector: Person,
    lead: bool,
    team: list[tuple[Person, bool]],
    due_on: date,
    kind: NotificationKind = NotificationKind.assignment,
    subject_suffix: str = "",
    awaiting_signature: bool = False,
    extra: Mapping[str, Any] | None = None,
) -> Outgoing:
    """The 检查任务通知 (or a reminder) for one inspector and one enterprise.

    ``team`` is the co-inspectors as (person, is_lead); only their names and units are used.
    ``awaiting_signature``: a teammate submitted the finding, this inspector has yet to sign it
    (a reminder then asks for the signature). ``extra``: more template context (a
    replacement's ``replacing``, :func:`seat_taken`).
    """
    return AssignmentMessages(common, round_info, kind).message(
        enterprise=enterprise, certificates=certificates, inspector=inspector, lead=lead,
        team=team, due_on=due_on, subject_suffix=subject_suffix,
        awaiting_signature=awaiting_signature, extra=extra,
    )  # fmt: skip


class AssignmentMessages:
    """:func:`assignment_message` for many messages of one round and kind.

    A round's 15,000 assignment messages share most of their making: the round's part of the
    context, the templates, the keyed hash of the tokens and the round's fields of the
    idempotency keys, the start of the links, the working days to each deadline; and each
    inspector's channel and context repeat across their assignments. Those are worked out
    once here; what is left per message is its token, link, key and rendering."""

    def __init__(
        self, common: Common, round_info: RoundInfo,
        kind: NotificationKind = NotificationKind.assignment,
    ) -> None:  # fmt: skip
        self.common, self.round_key, self.kind = common, round_info.key, kind
        self._template = "assignment" if kind == NotificationKind.assignment else "reminder"
        self._shared = {
            "bureau_name": common.bureau_name,
            "today": common.today.isoformat(),
            "round": _round_ctx(round_info),
        }
        self._token = assignment_tokens(common.secret, round_info.key)
        self._link = submission_links(common.public_base_url, round_info.key)
        self._key = idempotency_keys(round_info.key, kind.value)
        self._templates: dict[str, Template] = {}
        self._people: dict[str, tuple[Person, tuple[Channel, str], dict[str, str], Template]] = {}
        self._dates: dict[date, tuple[str, int, bool]] = {}

    def team(
        self, *, enterprise: EnterpriseInfo, certificates: list[CertInfo],
        team: list[tuple[Person, bool, date]],
        extra: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[Outgoing]:  # fmt: skip
        """One message to each member of ``team`` (every inspector on ``enterprise``, as
        (person, is_lead, due_on) in position order), naming the others as co-inspectors.
        ``extra``: more template context for some members, by inspector id (a replacement's
        ``replacing``, :func:`seat_taken`)."""
        extra = extra or {}
        enterprise_ctx = _enterprise_ctx(enterprise)
        certificates_ctx = _certificates_ctx(certificates)
        members = [{**self._person(p)[1], "lead": lead} for p, lead, _ in team]
        return [
            self._message(
                enterprise, enterprise_ctx, certificates_ctx, person, lead,
                [m for (other, _, _), m in zip(team, members, strict=True)
                 if other.inspector_id != person.inspector_id],
                due_on, extra=extra.get(person.inspector_id, {}),
            )
            for person, lead, due_on in team
        ]  # fmt: skip

    def message(
        self, *, enterprise: EnterpriseInfo, certificates: list[CertInfo], inspector: Person,
        lead: bool, team: list[tuple[Person, bool]], due_on: date, subject_suffix: str = "",
        awaiting_signature: bool = False, extra: Mapping[str, Any] | None = None,
    ) -> Outgoing:  # fmt: skip
        """One inspector's message; ``team`` is the co-inspectors as (person, is_lead)."""
        return self._message(
            enterprise, _enterprise_ctx(enterprise), _certificates_ctx(certificates),
            inspector, lead, [{**_person_ctx(p), "lead": is_lead} for p, is_lead in team],
            due_on, subject_suffix, awaiting_signature, extra,
        )  # fmt: skip

    def _message(
        self, enterprise: EnterpriseInfo, enterprise_ctx: dict[str, str],
        certificates_ctx: list[dict[str, str]], inspector: Person, lead: bool,
        team_ctx: list[dict[str, Any]], due_on: date, subject_suffix: str = "",
        awaiting_signature: bool = False, extra: Mapping[str, Any] | None = None,
    ) -> Outgoing:  # fmt: skip
        (channel, address), inspector_ctx, template = self._person(inspector)
        token = self._token(enterprise.credit_code, inspector.inspector_id)
        link = self._link(enterprise.credit_code, token)
        due, working_days, overdue = self._due(due_on)
        role = "lead" if lead else "member"
        context = {
            **self._shared,
            "inspector": inspector_ctx,
            "enterprise": enterprise_ctx,
            "certificates": certificates_ctx,
            "team": team_ctx,
            "role": role,
            "due_on": due,
            "working_days": working_days,
            "link": link,
            "token": token,
            "awaiting_signature": awaiting_signature,
            # a seat kept its date when its member was replaced (§14), a date that may be gone
            "overdue": overdue,
            "replacing": None,  # a draw's notice; a replacement's says whose seat it takes
            **(extra or {}),
        }
        rendered = template.render(context)
        return Outgoing(
            idempotency_key=self._key(
                inspector.inspector_id, enterprise.credit_code + subject_suffix
            ),
            round_key=self.round_key,
            kind=self.kind,
            recipient=inspector.inspector_id,
            channel=channel,
            address=address,
            language=inspector.language,
            subject=rendered.subject,
            body=rendered.body,
            payload={
                "kind": self.kind.value,
                "round_key": self.round_key,
                "credit_code": enterprise.credit_code,
                "enterprise_name": enterprise.name,
                "due_on": due,
                "working_days": working_days,
                "role": role,
                "link": link,
            },
        )

    def _due(self, due_on: date) -> tuple[str, int, bool]:
        """A deadline as messages say it (the date, the working days left, whether it is
        gone), once per date: a draw's checks share one."""
        known = self._dates.get(due_on)
        if known is None:
            today = self.common.today
            known = self._dates[due_on] = (
                due_on.isoformat(),
                working_days_between(today, due_on),
                due_on < today,
            )
        return known

    def _person(self, who: Person) -> tuple[tuple[Channel, str], dict[str, str], Template]:
        """An inspector's channel, context and template (by their language), once each: kept
        by id with the very ``Person`` they were made for (looked up by the person itself,
        each look-up hashed its seven fields), made again for another ``Person`` of that id."""
        known = self._people.get(who.inspector_id)
        if known is None or known[0] is not who:
            language = language_of(who.language)
            if language not in self._templates:
                self._templates[language] = template(
                    self._template, language, override_dir=self.common.override_dir
                )
            made = (route(who), _person_ctx(who), self._templates[language])
            known = self._people[who.inspector_id] = (who, *made)
        return known[1:]


# The causes of a withdrawal (docs/draw-algorithm.md §14) as messages say them: never the
# coordinator's free-text reason, which may be personal (an illness, a relative).
CAUSE_LABELS = {"conflict": "回避", "unavailable": "不能到场", "left": "调离"}
CAUSE_LABELS_EN = {
    "conflict": "recusal for a conflict of interest",
    "unavailable": "unable to take part",
    "left": "transferred",
}


def _cause_ctx(cause: str) -> dict[str, str]:
    return {
        "cause": cause,
        "cause_label": CAUSE_LABELS.get(cause, cause),
        "cause_label_en": CAUSE_LABELS_EN.get(cause, cause),
    }


def seat_taken(withdrawn: Person, cause: str, lead: bool) -> dict[str, Any]:
    """The ``replacing`` of a replacement's 检查任务通知: whose seat they take (``lead``: the
    lead's) and why the member left, as a cause, so the notice does not read as if the draw
    had named them; :meth:`AssignmentMessages.team` takes it as ``extra``."""
    return {"replacing": {"name": one_line(withdrawn.name), "lead": lead, **_cause_ctx(cause)}}


@dataclass(frozen=True)
class TeamChanged:
    """The n-th replacement of a round (docs/draw-algorithm.md §14) as the team is told it."""

    n: int
    enterprise: EnterpriseInfo
    withdrawn: Person
    replacement: Person
    cause: str
    lead: bool  # the seat was the lead's: the replacement leads the team now
    due_on: date | None = None  # a new date the replacement gave the team's check
    # a joint round's: the bureau whose member was replaced (each numbers its own, §13.7)
    bureau: str = ""

    @property
    def subject_key(self) -> str:
        """What the change's messages are keyed by: one per replacement and member."""
        code = self.enterprise.credit_code
        return f"{code}|{self.bureau}|r{self.n}" if self.bureau else f"{code}|r{self.n}"


def team_changed_message(
    common: Common, *, round_info: RoundInfo, change: TeamChanged, inspector: Person
) -> Outgoing:
    """The 检查组变更通知 to a member who stays on the team: who left and why (the cause),
    who joined, the check's new date if the replacement gave one, and that their own task and
    link are unchanged. One per replacement and member (its idempotency key)."""
    code = change.enterprise.credit_code
    context = {
        "round": _round_ctx(round_info),
        "inspector": _person_ctx(inspector),
        "enterprise": _enterprise_ctx(change.enterprise),
        "left": _person_ctx(change.withdrawn),
        "joined": {**_person_ctx(change.replacement), "lead": change.lead},
        "due_on": None if change.due_on is None else change.due_on.isoformat(),
        **_cause_ctx(change.cause),
    }
    return _make(
        common,
        "team_changed",
        NotificationKind.team_changed,
        round_info.key,
        inspector.inspector_id,
        change.subject_key,
        inspector,
        context,
        {"credit_code": code, "replacement_n": change.n},
    )


def assignment_withdrawn_message(
    common: Common, *, round_info: RoundInfo, change: TeamChanged
) -> Outgoing:
    """The 检查任务变更通知 to the member withdrawn whose 检查任务通知 went: they no longer
    check the enterprise and the link they were sent no longer opens it. No cause and no
    reason: they know why, and a message is no place for it."""
    code = change.enterprise.credit_code
    who = change.withdrawn
    context = {
        "round": _round_ctx(round_info),
        "inspector": _person_ctx(who),
        "enterprise": _enterprise_ctx(change.enterprise),
    }
    return _make(
        common,
        "assignment_withdrawn",
        NotificationKind.assignment_withdrawn,
        round_info.key,
        who.inspector_id,
        change.subject_key,
        who,
        context,
        {"credit_code": code, "replacement_n": change.n},
    )


@dataclass(frozen=True)
class DueChanged:
    """The n-th new date given to a check of a round with no one withdrawn (rounds.redates),
    as the team is told it: never the coordinator's reason, which stays in the audit log."""

    n: int
    enterprise: EnterpriseInfo
    old_due_on: date
    due_on: date


def due_changed_message(
    common: Common, *, round_info: RoundInfo, change: DueChanged, inspector: Person
) -> Outgoing:
    """The 检查期限变更通知 to a member whose 检查任务通知, or a reminder, went (or may be
    going) with the old date: the check's new date (the whole team's), their task and link
    otherwise unchanged. One per change and member (its idempotency key)."""
    code = change.enterprise.credit_code
    context = {
        "round": _round_ctx(round_info),
        "inspector": _person_ctx(inspector),
        "enterprise": _enterprise_ctx(change.enterprise),
        "old_due_on": change.old_due_on.isoformat(),
        "due_on": change.due_on.isoformat(),
        "working_days": working_days_between(common.today, change.due_on),
    }
    return _make(
        common,
        "due_changed",
        NotificationKind.due_changed,
        round_info.key,
        inspector.inspector_id,
        f"{code}|d{change.n}",
        inspector,
        context,
        {"credit_code": code, "due_change_n": change.n, "due_on": change.due_on.isoformat()},
    )


QUOTED_MAX = 200  # characters of a teammate's own words a message quotes (the page has them all)


def quoted(text: str, limit: int = QUOTED_MAX) -> str:
    """A teammate's own words (a correction's reason) as a message quotes them: on one line,
    cut after ``limit`` characters. On lines of their own they could pass for the message's: a
    reason of "笔误", a blank line, "请改用以下链接签字确认：" and a link put that link above the
    recipient's own, in a message the bureau sent."""
    line = text_one_line(text)
    return line if len(line) <= limit else line[:limit] + "…"


@dataclass(frozen=True)
class Submitted:
    """A version waiting for signatures, as a sign-off request describes it."""

    enterprise: EnterpriseInfo
    version: int
    submitter: str  # as the recipient reads it: a teammate's name, or 协调员 and a name
    result: str  # the result category's value
    result_label: str  # and its Chinese label
    check_date: date
    reason: str  # a correction's reason ("" for a first version)


def signoff_request_message(
    common: Common, *, round_info: RoundInfo, submitted: Submitted, inspector: Person,
    due_on: date,
) -> Outgoing:  # fmt: skip
    """The 待您签字确认 message to one member of the team who has not signed ``submitted``:
    what was submitted and by whom, with the member's own link (the assignment's, where the
    page offers 签字确认 and a correction). One per version and member (its idempotency key)."""
    code = submitted.enterprise.credit_code
    token = assignment_tokens(common.secret, round_info.key)(code, inspector.inspector_id)
    link = submission_links(common.public_base_url, round_info.key)(code, token)
    context = {
        "round": _round_ctx(round_info),
        "inspector": _person_ctx(inspector),
        "enterprise": _enterprise_ctx(submitted.enterprise),
        "submitter": one_line(submitted.submitter),
        "version": submitted.version,
        "result": submitted.result,
        "result_label": submitted.result_label,
        "check_date": submitted.check_date.isoformat(),
        "reason": quoted(submitted.reason),
        "due_on": due_on.isoformat(),
        "working_days": working_days_between(common.today, due_on),
        "overdue": due_on < common.today,
        "link": link,
        "token": token,
    }
    payload = {
        "credit_code": code,
        "enterprise_name": submitted.enterprise.name,
        "version": submitted.version,
        "due_on": due_on.isoformat(),
        "link": link,
    }
    return _make(
        common,
        "signoff_request",
        NotificationKind.signoff_request,
        round_info.key,
        inspector.inspector_id,
        f"{code}|v{submitted.version}",
        inspector,
        context,
        payload,
    )


@dataclass(frozen=True)
class Reissued:
    """An open check's link given again (``notifications.relink``), as its member is told it:
    ``earlier`` says what became of the link they were sent before (``changed``: made under
    another secret key, it no longer opens; ``same``: it is this one and still opens;
    ``none``: none reached them; ``ended``: a coordinator ended it, it no longer opens).
    ``subject_key`` keys the message: one per key and reason. ``generation``: the link's
    (``notifications.generations``). No date, no team: a new date or a replacement since
    leaves what it says true."""

    enterprise: EnterpriseInfo
    earlier: str
    subject_key: str
    generation: int = 0


def link_reissued_message(
    common: Common, *, round_info: RoundInfo, reissued: Reissued, inspector: Person
) -> Outgoing:
    """The 检查链接重新发送 to a member of an open check: their own link under the current key
    and what became of the link sent before; never the coordinator's reason, which stays in
    the audit log."""
    code = reissued.enterprise.credit_code
    token = assignment_tokens(common.secret, round_info.key)(
        code, inspector.inspector_id, reissued.generation
    )
    link = submission_links(common.public_base_url, round_info.key)(code, token)
    context = {
        "round": _round_ctx(round_info),
        "inspector": _person_ctx(inspector),
        "enterprise": _enterprise_ctx(reissued.enterprise),
        "earlier": reissued.earlier,
        "link": link,
        "token": token,
    }
    payload = {"credit_code": code, "enterprise_name": reissued.enterprise.name,
               "earlier": reissued.earlier, "link": link}  # fmt: skip
    return _make(common, "link_reissued", NotificationKind.link_reissued, round_info.key,
                 inspector.inspector_id, reissued.subject_key, inspector, context,
                 payload)  # fmt: skip


def enterprise_notice_message(
    common: Common,
    *,
    round_info: RoundInfo,
    enterprise: EnterpriseInfo,
    team: list[Person],
    email: str = "",
) -> Outgoing:
    """The 检查告知书. Without an email address it goes to the file outbox, to be printed."""
    who = Person(inspector_id="", name=enterprise.name, email=email)
    context = {
        "round": _round_ctx(round_info),
        "enterprise": _enterprise_ctx(enterprise),
        "team": [_person_ctx(p) for p in team],
    }
    recipient = f"enterprise:{enterprise.credit_code}"
    out = _make(
        common,
        "enterprise_notice",
        NotificationKind.enterprise_notice,
        round_info.key,
        recipient,
        enterprise.credit_code,
        who,
        context,
        {"credit_code": enterprise.credit_code},
    )
    if out.channel == Channel.none:
        out = _replace_channel(out, Channel.file, f"letter:{enterprise.address}")
    return out


def coordinator_message(
    common: Common,
    *,
    template: str,
    kind: NotificationKind,
    round_info: RoundInfo,
    coordinator: Person,
    subject_key: str,
    context: dict[str, Any],
    payload: dict[str, Any],
) -> Outgoing:
    """Overdue escalations and round summaries, to the coordinator."""
    ctx = {"round": _round_ctx(round_info), "coordinator_name": coordinator.name, **context}
    return _make(
        common,
        template,
        kind,
        round_info.key,
        "coordinator",
        subject_key,
        coordinator,
        ctx,
        payload,
    )


def round_held_message(
    common: Common,
    *,
    round_key: str,
    coordinator: Person,
    context: dict[str, Any],
) -> Outgoing:
    """A round its preflight held: the coordinator is told once per distinct set of reasons and
    what follows (``next_try``, not its hour: each hourly retry would be told again)."""
    said = [*context["reasons"], f"next try: {context['next_try']}"]
    digest = hashlib.sha256("\n".join(said).encode("utf-8")).hexdigest()[:16]
    return _make(
        common,
        "round_held",
        NotificationKind.round_held,
        round_key,
        "coordinator",
        digest,
        coordinator,
        {"round_key": round_key, "coordinator_name": coordinator.name, **context},
        {key: context[key] for key in ("reasons", "next_try", "next_at")},
    )


def _replace_channel(out: Outgoing, channel: Channel, address: str) -> Outgoing:
    from dataclasses import replace

    return replace(out, channel=channel, address=address)


@dataclass(frozen=True)
class AssistanceTask:
    """A partner's assistance request we accepted (exchange.assistance), as its team is told
    it: the request's facts, its key the case's (``assistance:<requester>/<request id>``)."""

    key: str
    request_id: str
    partner: str  # the requesting bureau's name and code
    enterprise: EnterpriseInfo
    check_item: str  # code and name
    cert_kinds: list[str]  # labels
    window_start: str
    window_end: str
    reason: str  # the partner's words (one line, at most QUOTED_MAX characters)
    team: list[Person]


def assistance_message(common: Common, *, task: AssistanceTask, inspector: Person) -> Outgoing:
    """The 协查任务通知 to a member of the team drawn for a partner's request: what to check,
    where, until when, with whom, and that the result goes to the coordinator, who shares it.
    One per request and member (its idempotency key); the partner's words on one line."""
    context = {
        "task": {
            "request_id": task.request_id, "partner": one_line(task.partner),
            "check_item": one_line(task.check_item), "cert_kinds": "、".join(task.cert_kinds),
            "window_start": task.window_start, "window_end": task.window_end,
            "reason": one_line(task.reason)[:QUOTED_MAX],
        },
        "inspector": _person_ctx(inspector),
        "enterprise": _enterprise_ctx(task.enterprise),
        "team": [_person_ctx(p) for p in task.team],
    }  # fmt: skip
    payload = {"credit_code": task.enterprise.credit_code, "request_id": task.request_id}
    return _make(common, "assistance_assigned", NotificationKind.assistance_assigned, task.key,
                 inspector.inspector_id, "accepted", inspector, context, payload)  # fmt: skip
