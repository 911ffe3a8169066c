"""Pre-split rendering gives the plain Jinja2 rendering's text, byte for byte."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import jinja2
import pytest

from notifications import render as render_module
from notifications.presplit import DICT, SLOT, Presplit, Spec, Unsupported, analyse
from notifications.render import LANGUAGES, environment, render

# values a fast path could get wrong: markup and entities, str.format and Jinja syntax,
# placeholders' own private-use characters, line breaks, empty, zero, None, non-ASCII
TRICKY = [
    "张三", "<b>李四</b>", "A & B", "\"quoted\" 'single'", "{0}", "{name}", "{{ x }}", "{% if %}",
    "}{", "%s %d", "back\\slash", "line\nbreak", "  padded  ", "\ue000", "\ue0000:1\ue001", "",
    "φ ∑ 😀", "0", "None",
]  # fmt: skip
ROUND = {
    "key": "R1", "title": "抽查<2026>", "check_item": "证书 & 标志", "check_item_code": "RZ-05",
    "legal_basis": ["《认证认可条例》", "{国市监}"], "window_start": "2026-12-07",
    "window_end": "2026-12-31",
}  # fmt: skip


def _text(rng: random.Random) -> str:
    return rng.choice(TRICKY) if rng.random() < 0.6 else f"值{rng.randrange(10**6)}"


def _context(name: str, rng: random.Random) -> dict[str, Any]:
    person = {"name": _text(rng), "unit": _text(rng)}
    enterprise = {"name": _text(rng), "credit_code": _text(rng), "address": _text(rng)}
    common = {"bureau_name": _text(rng), "today": "2026-12-01", "round": dict(ROUND)}
    team = [
        {"name": _text(rng), "unit": _text(rng), "lead": rng.choice([True, False, 0, 1, None])}
        for _ in range(rng.randrange(4))
    ]
    certificates = [
        {k: _text(rng) for k in ("body", "number", "kind", "status", "scope")}
        for _ in range(rng.randrange(4))
    ]
    working_days = rng.choice([0, 1, 15, -3, "七"])
    if name in ("assignment", "reminder"):
        return {
            **common, "inspector": person, "enterprise": enterprise, "team": team,
            "certificates": certificates, "role": rng.choice(["lead", "member", "", "lead "]),
            "due_on": _text(rng), "working_days": working_days, "link": _text(rng),
            "token": _text(rng),
        }  # fmt: skip
    if name == "enterprise_notice":
        return {**common, "enterprise": enterprise, "team": team}
    if name == "overdue":
        overdue = [
            {"enterprise_name": _text(rng), "credit_code": _text(rng), "due_on": _text(rng),
             "working_days_overdue": working_days, "team": [_text(rng), _text(rng)]}
            for _ in range(rng.randrange(3))
        ]  # fmt: skip
        return {**common, "coordinator_name": _text(rng), "overdue": overdue}
    if name == "round_summary":
        rows = [
            {"enterprise_name": _text(rng), "credit_code": _text(rng), "team": [_text(rng)],
             "due_on": _text(rng)}
            for _ in range(rng.randrange(3))
        ]  # fmt: skip
        counts = {"enterprises": working_days, "inspectors": 2, "messages": _text(rng)}
        unreachable = [{"inspector_id": _text(rng), "name": _text(rng)}] * rng.randrange(2)
        return {
            **common, "coordinator_name": _text(rng), "counts": counts, "rows": rows,
            "unreachable": unreachable,
        }  # fmt: skip
    if name == "round_held":
        return {
            **common, "round_key": _text(rng), "plan_id": _text(rng),
            "coordinator_name": _text(rng), "reasons": [_text(rng)],
            "preview": [_text(rng), _text(rng)],
        }  # fmt: skip
    return {
        **common, "coordinator_name": _text(rng), "channel": _text(rng), "down_since": _text(rng),
        "error": _text(rng), "paused_until": _text(rng),
    }  # fmt: skip


SHIPPED = sorted(
    p.name[: -len(".txt.j2")] for p in (render_module.PACKAGE_TEMPLATES / "zh").iterdir()
)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_template_presplits_to_the_plain_text(name: str, language: str) -> None:
    env = environment(None)
    path = f"{language}/{name}.txt.j2"
    template = env.get_template(path)
    source = env.loader.get_source(env, path)[0]  # type: ignore[union-attr]
    fast = Presplit(template, analyse(env, source), path)
    rng = random.Random(f"{name}/{language}")
    contexts = [_context(name, rng) for _ in range(400)]
    for context in contexts:
        assert fast.render(context) == template.render(**context)
    assert not fast.broken
    assert 0 < len(fast.patterns) < len(contexts)  # shapes are shared, not one per message


def test_render_uses_the_presplit_form_and_gives_the_same_messages() -> None:
    rng = random.Random(7)
    env = environment(None)
    plain = env.get_template("zh/assignment.txt.j2")
    for _ in range(300):
        context = _context("assignment", rng)
        text = plain.render(**context).strip()
        subject, _, body = text.partition("\n")
        if not subject.strip():
            continue  # render refuses an empty subject; compared elsewhere
        out = render("assignment", "zh-CN", context)
        assert (out.subject, out.body) == (subject.strip(), body.strip() + "\n")
    _, presplit = render_module._template(env, None, "zh/assignment.txt.j2")
    assert presplit is not None and presplit.patterns and not presplit.broken


CUSTOM = {
    # printed, tested, compared, filtered, looped with counters, nested loops, or-defaults
    "mixed": (
        "{{ a }}|{{ a | upper }}|{% if b == 'x' %}X{% endif %}|{{ n + 1 }}|"
        "{% for i in items %}{{ loop.index }}:{{ i.v or '-' }}{{ ',' if not loop.last }}"
        "{% for j in i.sub %}[{{ j }}]{% else %}(none){% endfor %}{% endfor %}|"
        "{{ items | length }}|{{ a ~ b }}|{{ d['k'] }}|{{ 'yes' if flag else 'no' }}|"
        "{{ not a }}|{{ a and b }}|{{ a }}{{ a }}"
    ),
    "items_twice": "{% for i in items %}{{ i.v }}{% endfor %}{{ items }}",
    "braces": "{{ '{' }}{{ a }}{{ '}' }} {0} {{ b }} {% raw %}{{ a }}{% endraw %}",
    # prints the placeholders' own character: noticed on the first message, rendered plainly
    "private_use": "{{ a }} {{ '\\ue000' }}",
}


@pytest.mark.parametrize("source", CUSTOM.values(), ids=list(CUSTOM))
def test_templates_that_use_values_beyond_printing_still_match(source: str) -> None:
    env = environment(None)
    template = env.from_string(source)
    fast = Presplit(template, analyse(env, source), "custom")
    rng = random.Random(source)
    for _ in range(300):
        context = {
            "a": _text(rng), "b": rng.choice(["x", "y", "", "{x}"]), "n": rng.randrange(-2, 3),
            "flag": rng.choice([True, False, "", "0", 0, None, [], [0]]),
            "items": [
                {"v": rng.choice(["", 0, _text(rng), None]),
                 "sub": [_text(rng) for _ in range(rng.randrange(3))]}
                for _ in range(rng.randrange(4))
            ],
            "d": {"k": _text(rng)},
        }  # fmt: skip
        assert fast.render(context) == template.render(**context)
    assert fast.broken == ("ue000" in source)


@pytest.mark.parametrize(
    "source",
    [
        "{% set x = a %}{{ x }}",
        "{% macro m(v) %}{{ v }}{% endmacro %}{{ m(a) }}",
        "{% for i in items if i %}{{ i }}{% endfor %}",
        "{% for i in items %}{{ loop.previtem }}{% endfor %}",
        "{% include 'zh/reminder.txt.j2' %}",
        "{% autoescape true %}{{ a }}{% endautoescape %}",
    ],
)
def test_constructs_beyond_the_rules_are_rendered_plainly(source: str) -> None:
    with pytest.raises(Unsupported):
        analyse(environment(None), source)


def test_an_autoescaping_environment_is_never_presplit() -> None:
    env = jinja2.Environment(autoescape=True)
    with pytest.raises(Unsupported):
        analyse(env, "{{ a }}")


def test_a_context_outside_the_rules_falls_back_to_the_plain_rendering() -> None:
    env = environment(None)
    source = "{{ p.name }} {{ q }}"
    template = env.from_string(source)
    fast = Presplit(template, analyse(env, source), "custom")

    class Named:
        name = "对象"

    class NoTruth:  # like a numpy array: printable, but bool() refuses
        def __bool__(self) -> bool:
            raise ValueError("ambiguous")

        def __str__(self) -> str:
            return "数组"

    for context in ({"p": Named(), "q": "x"}, {"p": {"name": "甲"}, "q": 1.5},
                    {"p": {"name": "甲"}, "q": {1, 2}}, {"p": {"name": NoTruth()}, "q": "x"},
                    {"p": {"name": "甲"}, "q": NoTruth()}):  # fmt: skip
        assert fast.render(context) == template.render(**context)
        assert fast.render(context) == template.render(**context)
    with pytest.raises(jinja2.UndefinedError):
        fast.render({"p": {}, "q": "x"})


def test_a_wrong_reading_is_caught_and_the_template_is_rendered_plainly() -> None:
    env = environment(None)
    template = env.from_string("{{ role | upper }}")
    wrong = Spec(DICT, {"role": Spec(SLOT)})  # claims role is only printed
    fast = Presplit(template, wrong, "custom")
    assert fast.render({"role": "lead"}) == "LEAD" and not fast.broken  # met once: plain
    assert fast.render({"role": "member"}) == "MEMBER" and fast.broken  # learnt, caught
    assert fast.render({"role": "x"}) == "X"


def test_an_edited_template_is_read_again(tmp_path: Path) -> None:
    (tmp_path / "zh").mkdir()
    target = tmp_path / "zh" / "reminder.txt.j2"
    context = {"due_on": "2026-12-18", "bureau_name": "局"}
    target.write_text("提醒 {{ due_on }}\n\n旧", "utf-8")
    assert render("reminder", "zh", context, override_dir=tmp_path).body == "旧\n"
    target.write_text("提醒 {{ due_on }}\n\n新的 {{ bureau_name }}", "utf-8")
    stat = target.stat()
    os.utime(target, (stat.st_atime, stat.st_mtime + 5))
    assert render("reminder", "zh", context, override_dir=tmp_path).body == "新的 局\n"


def test_values_equal_but_printed_differently_are_different_shapes() -> None:
    env = environment(None)
    source = "{{ x | string }} {{ d | string }} {{ n }}"
    template = env.from_string(source)
    fast = Presplit(template, analyse(env, source), "custom")
    pairs = [(0.0, -0.0), ({1: "a"}, {True: "a"}), (1, True), (0, False), ("", None)]
    for _ in range(2):  # twice: the second time the shapes are learnt
        for a, b in pairs:
            for x in (a, b):
                context = {"x": x, "d": {"k": x} if isinstance(x, float) else x, "n": "名"}
                assert fast.render(context) == template.render(**context)
    assert not fast.broken
