"""The pure parts: templates, tokens, signatures, working days, routing."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import logging
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from notifications import workdays
from notifications.links import (
    assignment_token,
    assignment_tokens,
    idempotency_keys,
    submission_link,
    submission_links,
    verify_assignment_token,
)
from notifications.messages import (
    AssignmentMessages,
    CertInfo,
    Common,
    EnterpriseInfo,
    Person,
    RoundInfo,
    assignment_message,
    route,
)
from notifications.models import Channel
from notifications.render import LANGUAGES, TEMPLATES, Rendered, TemplateError, render, template
from notifications.wire import build_email, build_webhook, dingtalk_sign, verify_generic

ROUND = {
    "key": "R1", "title": "抽查", "check_item": "证书检查", "check_item_code": "RZ-01",
    "legal_basis": ["《认证认可条例》"], "window_start": "2026-12-01", "window_end": "2026-12-31",
}  # fmt: skip
CONTEXTS = {
    "assignment": {
        "inspector": {"name": "张三", "unit": "一大队"}, "round": ROUND,
        "enterprise": {"name": "甲公司", "credit_code": "91350100M000000001", "address": ""},
        "certificates": [{"body": "CQC", "number": "1", "kind": "ccc", "status": "valid",
                          "kind_label": "强制性产品认证", "status_label": "有效", "scope": ""}],
        "team": [{"name": "李四", "unit": "二大队", "lead": True}], "role": "member",
        "due_on": "2026-12-18", "working_days": 15, "link": "http://x/findings", "token": "t",
    },
    "reminder": {
        "inspector": {"name": "张三", "unit": ""}, "round": ROUND,
        "enterprise": {"name": "甲公司", "credit_code": "9135", "address": ""},
        "due_on": "2026-12-18", "working_days": 2, "link": "http://x", "token": "t",
    },
    "signoff_request": {
        "inspector": {"name": "张三", "unit": ""}, "round": ROUND,
        "enterprise": {"name": "甲公司", "credit_code": "9135", "address": ""},
        "submitter": "李四", "version": 2, "result": "no_problem", "result_label": "未发现问题",
        "check_date": "2026-12-10", "reason": "复核", "due_on": "2026-12-18",
        "working_days": 2, "overdue": False, "link": "http://x", "token": "t",
    },
    "overdue": {
        "round": ROUND, "coordinator_name": "王五",
        "overdue": [{"enterprise_name": "甲公司", "credit_code": "9135", "due_on": "2026-12-18",
                     "working_days_overdue": 3, "team": ["张三", "李四"]}],
    },
    "round_summary": {
        "round": ROUND, "coordinator_name": "王五",
        "counts": {"enterprises": 1, "inspectors": 2, "messages": 2},
        "rows": [{"enterprise_name": "甲", "credit_code": "9135", "team": ["张三"],
                  "due_on": "2026-12-18"}],
        "unreachable": [{"inspector_id": "I9", "name": "赵六"}],
    },
    "enterprise_notice": {
        "round": ROUND, "enterprise": {"name": "甲公司", "credit_code": "9135", "address": "x"},
        "team": [{"name": "张三", "unit": "一大队"}],
    },
    "team_changed": {
        "inspector": {"name": "张三", "unit": ""}, "round": ROUND,
        "enterprise": {"name": "甲公司", "credit_code": "9135", "address": ""},
        "left": {"name": "李四", "unit": "二大队"},
        "joined": {"name": "王五", "unit": "三大队", "lead": False},
        "cause": "unavailable", "cause_label": "不能到场", "cause_label_en": "unable to take part",
    },
    "assignment_withdrawn": {
        "inspector": {"name": "李四", "unit": ""}, "round": ROUND,
        "enterprise": {"name": "甲公司", "credit_code": "9135", "address": ""},
    },
    "due_changed": {
        "inspector": {"name": "张三", "unit": ""}, "round": ROUND,
        "enterprise": {"name": "甲公司", "credit_code": "9135", "address": ""},
        "old_due_on": "2026-12-31", "due_on": "2027-01-29", "working_days": 20,
    },
    "link_reissued": {
        "inspector": {"name": "张三", "unit": ""}, "round": ROUND,
        "enterprise": {"name": "甲公司", "credit_code": "9135", "address": ""},
        "earlier": "changed", "link": "http://x", "token": "t",
    },
    "assistance_assigned": {  # a partner's request, not a round of ours: no "round"
        "inspector": {"name": "张三", "unit": ""},
        "enterprise": {"name": "甲公司", "credit_code": "9135", "address": ""},
        "task": {"request_id": "310000-0123456789", "partner": "上海市认证执法局（310000）",
                 "check_item": "RZ-01 证书检查", "cert_kinds": "强制性产品认证",
                 "window_start": "2026-12-10", "window_end": "2026-12-31", "reason": "请协查"},
        "team": [{"name": "张三", "unit": ""}, {"name": "李四", "unit": "二大队"}],
    },
}  # fmt: skip
MUST = {"assistance_assigned": "task"}  # what each template cannot do without; "round" else
COMMON = {"bureau_name": "福建省认证执法局", "today": "2026-11-27"}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_renders(name: str, language: str) -> None:
    out = render(name, language, {**COMMON, **CONTEXTS[name]})
    assert out.subject and "\n" not in out.subject
    assert out.body.strip()
    assert "R1" in out.subject + out.body or "甲公司" in out.subject + out.body


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", TEMPLATES)
def test_a_missing_variable_raises(name: str, language: str) -> None:
    context = {**COMMON, **CONTEXTS[name]}
    del context[MUST.get(name, "round")]
    with pytest.raises(TemplateError, match=MUST.get(name, "round")):
        render(name, language, context)


def test_english_for_english_recipients_and_chinese_by_default() -> None:
    ctx = {**COMMON, **CONTEXTS["reminder"]}
    assert render("reminder", "en-GB", ctx).subject.startswith("[Reminder]")
    assert render("reminder", "fr", ctx).subject.startswith("【检查任务提醒】")


def test_a_bureau_template_directory_overrides(tmp_path: Path) -> None:
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "reminder.txt.j2").write_text("提醒 {{ due_on }}\n\n本局自定义", "utf-8")
    out = render("reminder", "zh", {**COMMON, **CONTEXTS["reminder"]}, override_dir=tmp_path)
    assert out.subject == "提醒 2026-12-18" and out.body == "本局自定义\n"


def test_a_loaded_template_renders_what_jinja_renders(tmp_path: Path) -> None:
    """``Template.render`` makes Jinja's own context once per message from globals copied
    once: the same text as ``jinja2.Template.render``, globals and inherited blocks included."""
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "base.txt.j2").write_text("{% block s %}{% endblock %}\n\n底部", "utf-8")
    (tmp_path / "zh" / "reminder.txt.j2").write_text(
        '{% extends "zh/base.txt.j2" %}{% block s %}{% for i in range(2) %}{{ i }}{% endfor %}'
        "{{ dict(a=1)['a'] }} {{ due_on }}{% endblock %}",
        "utf-8",
    )
    context = {**COMMON, **CONTEXTS["reminder"]}
    for override in (tmp_path, None):
        loaded = template("reminder", "zh", override_dir=override)
        jinja = loaded.compiled.render(context).strip().partition("\n")
        assert loaded.render(context) == Rendered(jinja[0].strip(), jinja[2].strip() + "\n")
    assert render("reminder", "zh", context, override_dir=tmp_path).subject == "011 2026-12-18"


def test_an_assignment_names_certificates_in_the_recipient_s_words(tmp_path: Path) -> None:
    """The Chinese notice says a certificate's kind and status as 强制性产品认证 and 有效; the
    English one keeps the registry's values; a bureau's own template may use either."""
    common = Common("s", "https://x.cn", "福建省认证执法局", date(2026, 12, 1))
    info = RoundInfo("R1", "抽查", "证书检查", "RZ-01", ["《认证认可条例》"],
                     date(2026, 12, 7), date(2026, 12, 31))  # fmt: skip
    firm = EnterpriseInfo("91350100M000000001", "甲公司", "")
    certs = [CertInfo("CQC", "2022010902000253", "ccc", "valid", "电线电缆"),
             CertInfo("XYZ", "OP2200001", "organic", "withdrawn")]  # fmt: skip

    def body(person: Person, override: Path | None = None) -> str:
        return assignment_message(
            replace(common, override_dir=override), round_info=info, enterprise=firm,
            certificates=certs, inspector=person, lead=True, team=[], due_on=date(2026, 12, 31),
        ).body  # fmt: skip

    zh = body(Person("I1", "张三"))
    assert "CQC 2022010902000253（强制性产品认证，有效）电线电缆" in zh
    assert "XYZ OP2200001（有机产品认证，撤销）" in zh
    assert "ccc" not in zh and "valid" not in zh and "withdrawn" not in zh
    en = body(Person("I2", "Li", language="en"))
    assert "CQC 2022010902000253 (ccc, valid) 电线电缆" in en
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "assignment.txt.j2").write_text(
        "通知\n\n{% for c in certificates %}{{ c.kind }}/{{ c.status }}={{ c.kind_label }}"
        "/{{ c.status_label }};{% endfor %}",
        "utf-8",
    )
    assert body(Person("I1", "张三"), tmp_path) == (
        "ccc/valid=强制性产品认证/有效;organic/withdrawn=有机产品认证/撤销;\n"
    )


def test_token_binds_every_field_and_verifies() -> None:
    t = assignment_token("s", "R1", "9135", "I1")
    assert len(t) == 64 and t == assignment_token("s", "R1", "9135", "I1")
    assert t != assignment_token("s", "R19", "135", "I1")  # length prefixes: no ambiguity
    assert t != assignment_token("other", "R1", "9135", "I1")
    assert verify_assignment_token("s", "R1", "9135", "I1", t)
    assert not verify_assignment_token("s", "R1", "9135", "I2", t)
    link = submission_link("https://x.cn/", "s", "R1", "9135", "I1")
    assert link == f"https://x.cn/w/open/R1/9135?token={t}"


def test_a_round_s_tokens_and_keys_hash_every_field_from_the_start() -> None:
    """The per-round forms continue from a hashed prefix: the digest of all the fields."""

    def fields(*values: str) -> bytes:
        return b"".join(len(v.encode()).to_bytes(8, "big") + v.encode() for v in values)

    tokens, keys = assignment_tokens("s", "批次-1"), idempotency_keys("批次-1", "assignment")
    for code, person in [("9135", "I1"), ("91350100M000000001", "检查员2"), ("", "")]:
        msg = fields("shuangsui-assignment-v1", "批次-1", code, person)
        assert tokens(code, person) == hmac.new(b"s", msg, hashlib.sha256).hexdigest()
        assert tokens(code, person) == assignment_token("s", "批次-1", code, person)
        whole = fields("批次-1", "assignment", person, code)
        assert keys(person, code) == hashlib.sha256(whole).hexdigest()
    assert (
        submission_links("https://x.cn/", "R 1")("9135", "t")
        == submission_link("https://x.cn", "s", "R 1", "9135", "I1", token="t")
        == "https://x.cn/w/open/R%201/9135?token=t"
    )


def test_a_team_s_messages_are_each_member_s_own_message() -> None:
    """``AssignmentMessages.team`` (the draw's way, shared parts made once) gives each member
    the message :func:`assignment_message` makes for them alone."""
    common = Common("s", "https://x.cn", "福建省认证执法局", date(2026, 12, 1))
    info = RoundInfo("R1", "抽查", "证书检查", "RZ-01", ["《认证认可条例》"],
                     date(2026, 12, 7), date(2026, 12, 31))  # fmt: skip
    firm = EnterpriseInfo("91350100M000000001", "甲{0}公司", "")
    certs = [CertInfo("CQC", "1", "organic", "valid"), CertInfo("CQC", "2", "other", "suspended")]
    team = [
        (Person("I1", "张三", "一大队", email="a@x.cn"), True, date(2026, 12, 31)),
        (Person("I2", "Li", webhook_url="https://h.cn/1", webhook_kind="wecom", language="en"),
         False, date(2026, 12, 18)),
        (Person("I3", "王五"), False, date(2026, 12, 31)),
    ]  # fmt: skip
    built = AssignmentMessages(common, info).team(enterprise=firm, certificates=certs, team=team)
    alone = [
        assignment_message(
            common, round_info=info, enterprise=firm, certificates=certs, inspector=person,
            lead=lead, due_on=due_on,
            team=[(p, is_lead) for p, is_lead, _ in team if p.inspector_id != person.inspector_id],
        )
        for person, lead, due_on in team
    ]  # fmt: skip
    assert built == alone
    assert [m.channel for m in built] == [Channel.email, Channel.wecom, Channel.none]
    assert built[1].subject.startswith("[Inspection assignment]")
    assert built[2].body.count("王五") == 1 and "张三（一大队，组长）" in built[2].body


def test_a_person_of_an_id_met_before_is_taken_as_given() -> None:
    """``AssignmentMessages`` keeps each inspector's channel, context and template by id: a
    ``Person`` of an id it has met, with other fields (an address, a name, a language given
    since), is messaged as that person, not as the one met first."""
    common = Common("s", "https://x.cn", "福建省认证执法局", date(2026, 12, 1))
    info = RoundInfo("R1", "抽查", "证书检查", "RZ-01", ["《认证认可条例》"],
                     date(2026, 12, 7), date(2026, 12, 31))  # fmt: skip
    first = Person("I1", "张三", "一大队", email="a@x.cn")
    later = Person("I1", "张山", "二大队", webhook_url="https://h.cn/1", language="en")
    other = Person("I2", "李四", "三大队")
    messages = AssignmentMessages(common, info)
    due = date(2026, 12, 31)
    for firm, team in (
        (EnterpriseInfo("91350100M000000001", "甲公司"), [(first, True, due), (other, False, due)]),
        (EnterpriseInfo("91350100M000000002", "乙公司"), [(later, True, due), (other, False, due)]),
        (EnterpriseInfo("91350100M000000003", "丙公司"), [(other, True, due), (first, False, due)]),
    ):
        built = messages.team(enterprise=firm, certificates=[], team=team)
        alone = AssignmentMessages(common, info).team(enterprise=firm, certificates=[], team=team)
        assert built == alone
    assert [(m.channel, m.address) for m in built] == [
        (Channel.none, ""), (Channel.email, "a@x.cn")
    ]  # fmt: skip
    assert "张三（一大队）" in built[0].body


def test_generic_webhook_is_signed_over_timestamp_and_body() -> None:
    now = datetime(2026, 11, 27, tzinfo=UTC)
    req = build_webhook(channel="webhook", url="http://h/x", key="k", subject="s", body="b",
                        payload={"a": 1}, now=now, secret=b"sec")  # fmt: skip
    ts = req.headers["X-Shuangsui-Timestamp"]
    assert ts == str(int(now.timestamp())) and req.headers["Idempotency-Key"] == "k"
    assert verify_generic(b"sec", ts, req.body, req.headers["X-Shuangsui-Signature"])
    assert not verify_generic(b"sec", ts, req.body + b" ", req.headers["X-Shuangsui-Signature"])


def test_dingtalk_and_wecom_robot_formats() -> None:
    now = datetime(2026, 11, 27, tzinfo=UTC)
    url = "https://d/robot/send?access_token=A#secret=SEC1"
    ding = build_webhook(channel="dingtalk", url=url, key="k", subject="标题", body="正文",
                         payload={}, now=now, secret=b"")  # fmt: skip
    ts = str(int(now.timestamp() * 1000))
    assert ding.url.startswith("https://d/robot/send?access_token=A&timestamp=" + ts)
    assert "SEC1" not in ding.url and "#" not in ding.url
    from urllib.parse import parse_qs, urlsplit

    assert parse_qs(urlsplit(ding.url).query)["sign"] == [dingtalk_sign("SEC1", ts)]
    assert b'"msgtype":"markdown"' in ding.body and "标题".encode() in ding.body
    wecom = build_webhook(channel="wecom", url="https://w/send?key=K", key="k", subject="s",
                          body="b", payload={}, now=now, secret=b"")  # fmt: skip
    assert wecom.url == "https://w/send?key=K" and b'"content":"### s\\nb"' in wecom.body


def test_email_carries_the_key_as_message_id() -> None:
    data = build_email(key="abc", sender="a@b.cn", to="c@d.cn", subject="检查任务", body="正文\n",
                       created_at=datetime(2026, 11, 27, tzinfo=UTC), kind="assignment",
                       round_key="R1")  # fmt: skip
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["Message-ID"] == "<abc@shuangsui>" and msg["Subject"] == "检查任务"
    assert msg.get_content().rstrip() == "正文"


def test_working_days_follow_the_official_calendar() -> None:
    # 2026 National Day: Oct 1-7 off (Oct 8 back to work is a plain Thursday)
    assert not workdays.is_workday(date(2026, 10, 1))
    assert workdays.working_days_between(date(2026, 9, 30), date(2026, 10, 8)) == 1
    assert workdays.add_working_days(date(2026, 11, 27), 1) == date(2026, 11, 30)


def test_unknown_years_fall_back_to_weekends_and_warn(caplog: pytest.LogCaptureFixture) -> None:
    workdays._warned.discard(2031)
    with caplog.at_level(logging.WARNING, logger="notifications.workdays"):
        assert workdays.working_days_between(date(2031, 1, 3), date(2031, 1, 10)) == 5
    assert "2031" in caplog.text and "weekends only" in caplog.text


def test_routing_prefers_email_then_webhook() -> None:
    assert route(Person("I", "n", email="a@b.cn", webhook_url="https://h")) == (
        Channel.email,
        "a@b.cn",
    )
    assert route(Person("I", "n", email="bad", webhook_url="https://h", webhook_kind="wecom")) == (
        Channel.wecom, "https://h")  # fmt: skip
    assert route(Person("I", "n", email="", webhook_url="ftp://x")) == (Channel.none, "")
