"""Render many messages from one template fast: render it once per *shape*, substitute the rest.

A round's assignment messages differ in names, codes, links and tokens, values a template only
prints. They share their shape: the role, how many certificates and co-inspectors, which values
are empty. So a template is rendered once per shape with a placeholder in place of every value
it only prints, and each message is that text with its own values put back (``str.format``).

Which values may become placeholders is read from the template's syntax tree, so the result is
the plain rendering's, byte for byte:

* a value may become a placeholder when the template does nothing with it but print it with
  ``{{ ... }}`` or test whether it is empty (``{% if x %}``, ``x or "..."``,
  ``"..." if x else "..."``), and only when it is a non-empty ``str`` or ``int``: the
  environment prints ``str(value)`` (no autoescape, no finalize), and a placeholder is a
  non-empty string, so every such test goes the same way;
* any other use (a comparison, a filter, a call, an index) makes the value part of the shape,
  compared by value; a list the template loops over adds its length to the shape;
* a template with anything else (macros, ``set``, includes, blocks, loop filters, ``loop``
  beyond its counters) is not pre-split: it is rendered plainly.

A shape is learnt the second time it comes (a one-off message, such as a round's summary, is
just rendered), and checked then against that message's plain rendering; a difference (which
the rules above should make impossible) switches the template to plain rendering for good.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Literal

import jinja2
from jinja2 import nodes

__all__ = ["Presplit", "analyse"]

logger = logging.getLogger(__name__)

# What the template does with a value (the spec of one path of the context):
TEST = "test"  # only tested for emptiness
SLOT = "slot"  # only printed (and maybe tested): may become a placeholder
FULL = "full"  # anything else: part of the shape, by value
DICT = "dict"  # only its keys are looked up (a.b): a spec per key
LIST = "list"  # only looped over (and maybe tested): a spec for its elements

_LOOP_COUNTERS = frozenset(
    {"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0"}
)
_LOOP = object()  # in a scope: ``loop`` is the loop's own variable


class Unsupported(Exception):
    """The template, or this context, is outside what pre-splitting handles exactly."""


def _merge(before: str, use: str) -> str:
    """The spec of a value used both ways. A test for emptiness goes with any structure (the
    shape keeps lengths and which values are empty); printing goes with printing only."""
    if not before or before == TEST:
        return use
    if use == TEST or (use == before and use != FULL):
        return before
    return FULL


@dataclass
class Spec:
    kind: str = ""  # "" until used
    children: dict[str, Spec] = field(default_factory=dict)  # DICT: key -> spec
    element: Spec | None = None  # LIST

    def use(self, path: tuple[str | None, ...], kind: str) -> None:
        """Record one use of ``path`` below this value (None in a path: a list's element)."""
        head = path[0] if path else ""
        self.kind = _merge(self.kind, (LIST if head is None else DICT) if path else kind)
        if self.kind == FULL:
            self.children, self.element = {}, None  # the whole value is in the shape
        elif head is None:
            self.element = self.element or Spec()
            self.element.use(path[1:], kind)
        elif head:
            self.children.setdefault(head, Spec()).use(path[1:], kind)

    def settle(self) -> None:
        """After reading: a value only tested is handled as a printed one, and a dict's
        printed keys come first (the order :func:`walker` and :func:`skeleton` both use)."""
        self.kind = SLOT if self.kind == TEST else self.kind
        for child in self.children.values():
            child.settle()
        if self.element is not None:
            self.element.settle()
        items = sorted(self.children.items(), key=lambda item: item[1].kind != SLOT)
        self.children = dict(items)


Path = tuple[str | None, ...]


class _Reader:
    """Walks a template's syntax tree and records how it uses each context path. A scope maps
    a loop's target name to its element's path (None: inside a value already in the shape)."""

    def __init__(self) -> None:
        self.root = Spec(DICT)

    def statements(self, body: list[nodes.Node], scope: dict[str, Any]) -> None:
        for node in body:
            if isinstance(node, nodes.Output):
                for child in node.nodes:
                    if not isinstance(child, nodes.TemplateData):
                        self.expr(child, SLOT, scope)
            elif isinstance(node, nodes.If):
                self.expr(node.test, TEST, scope)
                self.statements(node.body, scope)
                for elif_ in node.elif_:
                    self.expr(elif_.test, TEST, scope)
                    self.statements(elif_.body, scope)
                self.statements(node.else_, scope)
            elif isinstance(node, nodes.For):
                self.loop(node, scope)
            else:
                raise Unsupported(type(node).__name__)

    def loop(self, node: nodes.For, scope: dict[str, Any]) -> None:
        if node.test is not None or node.recursive or not isinstance(node.target, nodes.Name):
            raise Unsupported("a loop with a filter, recursion or several targets")
        path = self.path(node.iter, scope)
        element: Path | None = None
        if path is False:  # a computed value: part of the shape, and so are its elements
            self.expr(node.iter, FULL, scope)
        elif path is not None:
            self.root.use(path, LIST)
            element = (*path, None)
        self.statements(node.body, {**scope, node.target.name: element, "loop": _LOOP})
        self.statements(node.else_, scope)

    def path(self, node: nodes.Node, scope: dict[str, Any]) -> Path | None | Literal[False]:
        """The context path ``node`` names (``a.b.c``); None when it lies inside a value that is
        already part of the shape (or is a loop counter); False when it is not a plain path."""
        if isinstance(node, nodes.Name):
            if scope.get(node.name) is _LOOP:
                raise Unsupported("loop used beyond its counters")
            return scope[node.name] if node.name in scope else (node.name,)
        if isinstance(node, nodes.Getattr):
            inner = node.node
            if isinstance(inner, nodes.Name) and scope.get(inner.name) is _LOOP:
                if node.attr not in _LOOP_COUNTERS:
                    raise Unsupported(f"loop.{node.attr}")
                return None  # decided by the lengths, which are in the shape
            base = self.path(inner, scope)
            return base if base is None or base is False else (*base, node.attr)
        return False

    def expr(self, node: nodes.Node, kind: str, scope: dict[str, Any]) -> None:
        """Record the uses in ``node``, an expression printed (SLOT), tested (TEST) or used
        in any other way (FULL)."""
        path = self.path(node, scope)
        if path is None:
            return
        if path is not False:
            self.root.use(path, kind)
        elif isinstance(node, nodes.CondExpr) and kind != FULL:
            self.expr(node.test, TEST, scope)
            for branch in (node.expr1, node.expr2):
                if branch is not None:
                    self.expr(branch, kind, scope)
        elif isinstance(node, nodes.And | nodes.Or) and kind != FULL:
            self.expr(node.left, kind, scope)  # the value of one side, or its emptiness
            self.expr(node.right, kind, scope)
        elif isinstance(node, nodes.Not):
            self.expr(node.node, TEST, scope)  # only its emptiness counts
        elif isinstance(node, nodes.Expr | nodes.Helper):  # Helper: Operand, Keyword, Pair
            for child in node.iter_child_nodes():  # any other use: the values are the shape
                self.expr(child, FULL, scope)
        else:
            raise Unsupported(type(node).__name__)


def analyse(env: jinja2.Environment, source: str) -> Spec:
    """How a template uses its context; :class:`Unsupported` when it cannot be pre-split."""
    if env.autoescape is not False or env.finalize is not None:
        raise Unsupported("autoescape or finalize: printed values are not str(value)")
    reader = _Reader()
    reader.statements(env.parse(source).body, {})
    reader.root.settle()
    return reader.root


# ------------------------------------------------------------------ per message


def _frozen(value: Any) -> Any:
    """A hashable stand-in for a value that is part of the shape (its type included: 0,
    False and 0.0 print differently)."""
    kind = type(value)
    if kind is str:
        if _MARK[0] in value:
            raise Unsupported("a value holds the placeholder character")
        return (kind, value)
    if value is None or kind in (int, bool):
        return (kind, value)
    if kind is float:
        return (kind, repr(value))  # 0.0 == -0.0, yet they print differently
    if kind in (list, tuple):
        return (kind, tuple(_frozen(v) for v in value))
    if kind is dict:
        return (kind, tuple((_frozen(k), _frozen(v)) for k, v in value.items()))
    raise Unsupported(f"a {kind.__name__} value in the shape")


_MARK = ("\ue000", "\ue001")
_SLOTTED = object()  # in a shape: "a placeholder stands here"
_ALL_PRINTED = object()  # "a placeholder for each of the dict's printed keys"
_SOME_NOT = object()  # "for each printed key, in turn: _SLOTTED or the value"
_PRINTABLE = frozenset({str, int})


def _printable(value: Any) -> bool:
    return type(value) in _PRINTABLE and bool(value)


Walker = Callable[[Any, list[Any], list[str]], None]


def walker(spec: Spec) -> Walker:
    """A function appending a value's part of the shape to ``key`` and its placeholder values
    to ``values``, in the order :func:`skeleton` numbers them. It runs once per message, so
    a dict's printed keys are taken in one step when all are non-empty strings or integers."""
    if spec.kind == DICT:
        printed = [name for name, child in spec.children.items() if child.kind == SLOT]
        nested = [(name, walker(child)) for name, child in spec.children.items()
                  if child.kind != SLOT]  # fmt: skip
        get = itemgetter(*printed) if len(printed) > 1 else lambda d: tuple(d[n] for n in printed)

        def walk_dict(value: Any, key: list[Any], values: list[str]) -> None:
            if type(value) is not dict:
                raise Unsupported("not a dict")
            try:
                items = get(value)
                nested_items = [(value[name], walk) for name, walk in nested]
            except KeyError as exc:
                raise Unsupported(f"no {exc}") from None
            if _PRINTABLE.issuperset(map(type, items)) and all(items):
                key.append(_ALL_PRINTED)  # the usual case, in one step
                values.extend(map(str, items))
            else:
                key.append(_SOME_NOT)
                for item in items:
                    _slot(item, key, values)
            for item, walk in nested_items:
                walk(item, key, values)

        return walk_dict
    if spec.kind == LIST:
        assert spec.element is not None
        walk_item = walker(spec.element)

        def walk_list(value: Any, key: list[Any], values: list[str]) -> None:
            if type(value) not in (list, tuple):
                raise Unsupported("not a list")
            key.append(len(value))
            for item in value:
                walk_item(item, key, values)

        return walk_list
    if spec.kind == SLOT:
        return _slot
    return lambda value, key, values: key.append(_frozen(value))


def _slot(value: Any, key: list[Any], values: list[str]) -> None:
    if _printable(value):
        key.append(_SLOTTED)
        values.append(str(value))
    else:
        key.append(_frozen(value))


def skeleton(spec: Spec, value: Any, marks: Iterator[str]) -> Any:
    """The value with a placeholder in place of each printable one (the walker's order)."""
    kind = spec.kind
    if kind == SLOT:
        return next(marks) if _printable(value) else value
    if kind == DICT:
        return {name: skeleton(child, value[name], marks) for name, child in spec.children.items()}
    if kind == LIST:
        assert spec.element is not None
        return [skeleton(spec.element, item, marks) for item in value]
    return value


class Presplit:
    """One template's shapes, each as a ``str.format`` pattern."""

    def __init__(self, template: jinja2.Template, spec: Spec, name: str) -> None:
        self.template, self.spec, self.name = template, spec, name
        self.walk = walker(spec)
        self.patterns: dict[tuple[Any, ...], str] = {}
        self.seen_once: set[int] = set()  # hashes of shapes met once (a summary is unique)
        self.broken = False
        nonce = secrets.token_hex(8)  # a value cannot pose as a placeholder by chance
        self._mark = f"{_MARK[0]}{nonce}:{{}}{_MARK[1]}"
        self._split = re.compile(f"{_MARK[0]}{nonce}:(\\d+){_MARK[1]}")

    def render(self, context: dict[str, Any]) -> str:
        if self.broken:
            return self.template.render(**context)
        key: list[Any] = []
        values: list[str] = []
        try:
            self.walk(context, key, values)
        except Unsupported:
            return self.template.render(**context)
        frozen = tuple(key)
        pattern = self.patterns.get(frozen)
        if pattern is not None:
            return pattern.format(*values)
        if hash(frozen) not in self.seen_once:  # learn a shape when it comes again
            self.seen_once.add(hash(frozen))
            return self.template.render(**context)
        return self._learn(frozen, context, values)

    def _learn(self, key: tuple[Any, ...], context: dict[str, Any], values: list[str]) -> str:
        plain = self.template.render(**context)
        marks = (self._mark.format(i) for i in range(len(values)))
        try:
            text = self.template.render(**skeleton(self.spec, context, marks))
        except Exception:  # e.g. a use the reading missed: never guess, render plainly
            logger.exception("template %s: cannot pre-split, rendering each message", self.name)
            self.broken = True
            return plain
        parts = self._split.split(text)  # literal, index, literal, index, ..., literal
        pattern = "".join(
            "{" + part + "}" if i % 2 else part.replace("{", "{{").replace("}", "}}")
            for i, part in enumerate(parts)
        )
        if _MARK[0] in pattern or pattern.format(*values) != plain:
            logger.warning("template %s: pre-split text differs, rendering each message", self.name)
            self.broken = True
            return plain
        self.patterns[key] = pattern
        return plain
