"""Rendering of message templates: files a bureau can edit, strict about missing variables.

A template renders to ``subject`` on its first line, a blank line, then the body (plain text
that is also valid markdown for DingTalk and WeCom robots). A bureau's own directory, when
configured, is searched before the templates shipped here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.runtime import new_context

from shuangsui.errors import UserError

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"
LANGUAGES = ("zh", "en")
TEMPLATES = ("assignment", "reminder", "overdue", "round_summary", "enterprise_notice",
             "signoff_request", "team_changed", "assignment_withdrawn",
             "due_changed", "assistance_assigned", "link_reissued")  # fmt: skip


class TemplateError(UserError):
    """A template is missing, malformed or refers to a variable the message does not have."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


class _Environment(jinja2.Environment):
    """Message contexts are plain dicts: look ``a.b`` up as a key first. (Jinja tries the
    attribute first, and the AttributeError it raises on a dict costs more than the render.)
    A key that is not there falls back to Jinja's own rules, so ``d.items()`` still works."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@lru_cache(maxsize=8)
def environment(override_dir: str | None = None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if override_dir:
        loaders.append(jinja2.FileSystemLoader(override_dir))
    loaders.append(jinja2.FileSystemLoader(str(PACKAGE_TEMPLATES)))
    return _Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )


def language_of(language: str) -> str:
    """The template language for a recipient's ``language`` ('zh-CN' -> 'zh'; unknown -> 'zh')."""
    lang = (language or "zh").split("-")[0].split("_")[0].lower()
    return lang if lang in LANGUAGES else "zh"


@dataclass(frozen=True)
class Template:
    """One message template, loaded once: a round's thousands of messages render the same one.

    ``render`` is ``jinja2.Template.render`` less three costs per message that do not change
    the text: the look-up of the template (Jinja checks the file's modification time on every
    ``get_template``), and the merging of the template's globals (``range``, ``dict``, ...: a
    ``ChainMap``, slow to iterate) into each context and into the set of their names Jinja's
    context keeps, both here from a dict copied once."""

    path: str
    compiled: jinja2.Template
    globals: dict[str, Any]

    def render(self, context: dict[str, Any]) -> Rendered:
        # The context jinja2.Template.render makes (the globals, then the message's values),
        # as Template.new_context makes it but from the globals' dict, not their ChainMap.
        compiled = self.compiled
        jinja_context = new_context(
            compiled.environment, compiled.name, compiled.blocks,
            {**self.globals, **context}, shared=True, globals=self.globals,
        )  # fmt: skip
        try:
            text = compiled.environment.concat(  # type: ignore[attr-defined]
                compiled.root_render_func(jinja_context)
            )
        except _JINJA_ERRORS as exc:
            raise _error(self.path, exc) from exc
        subject, _, body = text.strip().partition("\n")
        if not subject.strip():
            raise TemplateError(f"template {self.path}: the first line (the subject) is empty")
        return Rendered(subject=subject.strip(), body=body.strip() + "\n")


_JINJA_ERRORS = (jinja2.UndefinedError, jinja2.TemplateNotFound, jinja2.TemplateSyntaxError)


def _error(path: str, exc: jinja2.TemplateError) -> TemplateError:
    if isinstance(exc, jinja2.TemplateNotFound):
        return TemplateError(f"template {path} not found")
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return TemplateError(f"template {path}, line {exc.lineno}: {exc.message}")
    return TemplateError(f"template {path}: {exc.message}")


def template(name: str, language: str, *, override_dir: Path | None = None) -> Template:
    """Template ``name`` in a recipient's ``language``: the bureau's own first, then ours."""
    env = environment(str(override_dir) if override_dir else None)
    path = f"{language_of(language)}/{name}.txt.j2"
    try:
        compiled = env.get_template(path)
    except _JINJA_ERRORS as exc:
        raise _error(path, exc) from exc
    return Template(path, compiled, dict(compiled.globals))


def render(
    name: str, language: str, context: dict[str, Any], *, override_dir: Path | None = None
) -> Rendered:
    return template(name, language, override_dir=override_dir).render(context)
