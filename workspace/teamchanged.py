"""The team changed under an inspector's form: a coordinator replaced a teammate (回避, a
member away; ``rounds.replacements``) between the page's load and its 提交.

The submit still goes through: what the inspector checked and typed is theirs, the version
carries their signature, and refusing it would only make them submit the same again. But it
went through silently before, and the new member was asked to sign a result the inspector
thought their old teammate would read. So the form carries the team it was shown with
(``team``: the members' ids, in the page's order), and a save or submit whose team is not
the team now answers with the page saying so: who left, who joined, and who now signs.
Nothing is refused for it, and a form whose field is missing or altered (an older page, a
script, an edited address) is only compared, never trusted: the names said are the
database's, and only a withdrawal it records is said.
"""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from api import inspector_tokens
from registry.models import Inspector
from rounds.models import TeamChange
from workspace.assignment import AssignmentView

FIELD = "team"  # the hidden field of the findings form, and the query after its redirect


def ids(shown: str) -> list[str]:
    """The members' ids a form's ``team`` field names ("" or none: an older page's form)."""
    return [i for i in shown.split(",") if i]


def moved(engine: Engine, round_key: str, credit_code: str, shown: str) -> bool:
    """Whether the team the form was shown with is not the team now (a form without the
    field, from before the page carried it, is taken as current)."""
    if not ids(shown):
        return False
    with Session(engine) as db:
        access = inspector_tokens.load(db, round_key, credit_code)
    return access is not None and ids(shown) != list(access.team)


def said(engine: Engine, view: AssignmentView, shown: str) -> str:
    """What the page says of a team changed since the form was shown ("" when it was not):
    who left and who joined, by name, and who now signs the latest version."""
    now = [m["id"] for m in view.team]
    if not ids(shown) or ids(shown) == now:
        return ""
    left = [i for i in ids(shown) if i not in now][:10]  # an altered field names no more
    with Session(engine) as db:  # only a withdrawal the database records: an address edited
        rows = db.execute(  # to another ``team`` says nothing
            select(col(TeamChange.withdrawn), col(Inspector.name))
            .join(Inspector, col(Inspector.inspector_id) == col(TeamChange.withdrawn))
            .where(col(TeamChange.round_key) == view.round_key,
                   col(TeamChange.credit_code) == view.credit_code,
                   col(TeamChange.withdrawn).in_(left))
        ).all()  # fmt: skip
    names = {str(i): str(n) for i, n in rows}
    if not names:
        return ""
    gone = "、".join(f"{names[i]}（{i}）" for i in left if i in names)
    joined = "、".join(f"{m['name']}（{m['id']}）" for m in view.team if m["id"] not in ids(shown))
    out = f"您填写期间，协调员更换了本任务的检查组成员：{gone} 已不在检查组"
    out += f"，由 {joined} 加入" if joined else ""
    team = "、".join(m["name"] + ("（组长）" if m["lead"] == "True" else "") for m in view.team)
    out += f"。现在的检查组是 {team}。"
    latest = view.latest
    if latest is not None and not latest.final and latest.missing:
        out += f"第 {latest.version} 版还需 {'、'.join(latest.missing)} 签字确认后才算完成。"
    return out
