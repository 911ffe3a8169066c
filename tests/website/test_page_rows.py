"""A round page's rows, written in Python with their texts escaped a column at a time
(``website.render.page_rows``), are the rows the template they were rendered by until then
(``ROWS`` below, with the site's Jinja2 settings) makes of the same results, whatever their
texts hold; and the escaping is a call a column, not a call a cell."""

from __future__ import annotations

import jinja2
import markupsafe
import pytest

from website.fragments import ROW_START
from website.model import Correction, PublicResult
from website.render import escaped, page_rows

# round_rows.html.j2 as it was (the rows until they were written in Python), a version of a
# corrected result said as the CSV says it since (``opendata.correction_text``)
ROWS = """\
{% for code, name, how, day, label, certificates, history, version, measures in rows %}
<tr id="e-{{ code }}">
<td data-label="企业名称" class="name">{{ name }}</td>
<td data-label="信用代码"><code>{{ code }}</code></td>
<td data-label="抽取方式" class="half">{{ how }}</td>
<td data-label="检查日期" class="half">{{ day }}</td>
<td data-label="检查结果">{% if label %}{{ label }}{% if certificates %}<br><small>\
{{ certificates }}</small>{% endif %}{% if history %}<details class="history"><summary>\
已更正（第 {{ version }} 版）</summary><ol>{% for c in history %}<li>第{{ c.version }}版\
{% if c.date %}（{{ c.date }} 确定）{% else %} {% endif %}{{ c.result_label }}\
{% if c.reason %}，更正原因：{{ c.reason }}{% endif %}</li>{% endfor %}</ol></details>\
{% endif %}{% else %}<span class="pending">结果待公示</span>{% endif %}</td>
<td data-label="处理措施"{% if not measures %} class="none"{% endif %}>{{ measures or "—" }}</td>
</tr>
{% endfor %}
"""

TEXTS = ["<script>\"&'</script>", "a\x00b&", "=1+1", "\u2028\u202e\ufeff", "😀", "", " "]
HISTORY = [Correction(1, "2026-12-01", "", "other", "其他"),
           Correction(2, "2026-12-03", TEXTS[0], "no_problem", "<b>未发现问题</b>")]  # fmt: skip


def _results() -> list[PublicResult]:
    head = ("r-2026-12", "91350100MA0000001X")
    out = [PublicResult(*head, "名", "350102", "鼓楼区", "A", "random", "CCC-01", "", "", "")]
    for i, text in enumerate(TEXTS):
        measures = [{"kind": "rectify", "label": text, "deadline": text}]
        certificates = [{"body": text, "number": text, "action": "suspended", "label": "暂停"}]
        out.append(PublicResult(
            "r-2026-12", f"9135010{i}{text}", text, "350102", text, "B",
            "targeted" if i % 2 else "random", "CCC-01", text or "2026-12-01",
            "no_problem" if i % 3 else "", text, measures if i % 2 else [],
            certificates if i % 3 != 1 else [], text, 3, HISTORY if i % 2 else [],
        ))  # fmt: skip
    return out


def _rendered(results: list[PublicResult], causes: dict[str, str]) -> list[str]:
    env = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)  # fmt: skip
    rows = [
        (r.credit_code, r.name,
         f"定向检查：{causes.get(r.credit_code, '')}" if r.selection == "targeted" else "随机抽取",
         r.check_date or "—", r.result_label if r.result else "", r.certificates_text,
         r.history, r.version, r.measures_text)
        for r in results
    ]  # fmt: skip
    text = env.from_string(ROWS).render(rows=rows)
    return [ROW_START + piece for piece in text.split(ROW_START)[1:]]


def test_rows_are_the_templates() -> None:
    results = _results()
    causes = {r.credit_code: f"原因{r.name}" for r in results[::3]}
    rows = page_rows(results, causes)
    assert rows == _rendered(results, causes)
    assert len(rows) == len(results)
    assert "<script>" not in "".join(rows)
    assert all(row.startswith(ROW_START) and row.endswith("</tr>\n") for row in rows)
    assert page_rows([], {}) == []


@pytest.mark.parametrize(
    "texts", [["<a>", "&", "'\"", ""], ["a\x00<", "b"], ["\x00"], [], ["", ""], ["x\x00"]]
)
def test_a_column_is_escaped_as_each_text(texts: list[str]) -> None:
    assert escaped(texts) == [str(markupsafe.escape(t)) for t in texts]


def test_the_rows_escape_a_column_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """As many escapes for 300 rows as for 3 (the template escaped each cell: seven a row)."""
    calls = []
    inner = markupsafe._escape_inner

    def counted(text: str) -> str:
        calls.append(text)
        return inner(text)

    monkeypatch.setattr(markupsafe, "_escape_inner", counted)
    results = _results()[:1] * 3
    page_rows(results, {})
    few = len(calls)
    calls.clear()
    page_rows(results * 100, {})
    assert len(calls) == few <= 7
