"""XPath filters (RFC 6241 8.9, ``:xpath``), checked and bounded before
libyang evaluates them.

The ``select`` expression's prefixes are the manager's XML prefixes, bound
by the namespace declarations in scope of the <filter> element; libyang
evaluates expressions whose prefixes are module names, so each prefix is
translated. Names inside string literals are left as they are (an identity
compared as a string is written ``'module:identity'``).

Bounded cost, by a limit on the expression rather than on its run (libyang
cannot be interrupted, and a thread left running on a tree cannot be
reclaimed): at most :data:`MAX_LENGTH` characters, predicates nested at most
:data:`MAX_PREDICATE_DEPTH` deep, at most one descendant step (``//``,
``descendant::``) per location path, and inside a predicate only downward
relative paths (no descendant step, no ``..``/``parent::``, no absolute
path). A predicate so looks only at the node's own subtree, never at the
whole tree or its siblings again for every node: evaluation stays about
linear in the tree (measured: ``../x`` in a predicate took 320 ms on 500
list entries, quadratic). Only the child, attribute, self, parent and
descendant axes and the XPath 1.0 and YANG functions of :data:`FUNCTIONS`
are accepted: libyang 2.1.30 crashes on ``ancestor::*`` and on
``preceding-sibling::`` in a predicate, and ``re-match``/``deref`` cost what
a regular expression or a leafref walk costs.

The expression is evaluated on the tree NACM has already pruned and secrets
have been removed from (agent/datastore/view.py), so it can neither select
nor test what the user may not read.
"""

from __future__ import annotations

import re

from ..netconf.errors import InvalidValue, MissingAttribute
from ..netconf.xmltree import Element
from ..yang import Schema, YangError

MAX_LENGTH = 1024
MAX_PREDICATE_DEPTH = 2

_NAME = re.compile(r"[A-Za-z_][\w.-]*")
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_OPERATOR_NAMES = {"and", "or", "div", "mod"}
_DESCENDANT_AXES = {"descendant", "descendant-or-self"}
_AXES = {"child", "attribute", "self", "parent"} | _DESCENDANT_AXES
FUNCTIONS = {
    # XPath 1.0 (node tests included)
    "last", "position", "count", "local-name", "namespace-uri", "name", "string", "concat", "starts-with",
    "contains", "substring-before", "substring-after", "substring", "string-length", "normalize-space",
    "translate", "boolean", "not", "true", "false", "lang", "number", "sum", "floor", "ceiling", "round",
    "node", "text", "comment", "processing-instruction",
    # YANG 1.1 (RFC 7950 10), but current() (the root here), deref() and re-match()
    "derived-from", "derived-from-or-self", "enum-value", "bit-is-set",
}


def _refuse(why: str) -> InvalidValue:
    return InvalidValue(f"XPath filter refused: {why}", info={"bad-attribute": "select", "bad-element": "filter"})


def filter_xpaths(schema: Schema, filter_el: Element) -> list[str]:
    """The XPath (libyang's form) of a ``<filter type="xpath" select=...>``."""
    select = filter_el.attr("select")
    if select is None:
        raise MissingAttribute("an XPath filter needs a select attribute",
                               info={"bad-attribute": "select", "bad-element": "filter"})
    return [expression(schema, filter_el, select)]


def expression(schema: Schema, el: Element, select: str) -> str:
    """``select``, whose prefixes are bound where ``el`` is, as an XPath
    libyang accepts; raises InvalidValue."""
    expr = translate(schema, el, select)
    try:
        schema.check_xpath(expr)
    except YangError as exc:
        raise _refuse(exc.issues[0].message if exc.issues else "not valid XPath") from None
    return expr


def translate(schema: Schema, filter_el: Element, select: str) -> str:
    """``select`` with module names for XML prefixes, checked against the
    bounds; raises InvalidValue."""
    if len(select) > MAX_LENGTH:
        raise _refuse(f"longer than {MAX_LENGTH} characters")
    out: list[str] = []
    depth = 0  # predicate nesting
    #: descendant steps in the current location path, per bracket/paren level
    descendants = [0]
    operand = False  # did the last token end an operand (so "/" continues a path)
    i, n = 0, len(select)
    while i < n:
        c = select[i]
        if c in "'\"":
            end = select.find(c, i + 1)
            if end < 0:
                raise _refuse("unterminated string literal")
            out.append(select[i : end + 1])
            i, operand = end + 1, True
            continue
        if c.isspace():
            out.append(c)
            i += 1
            continue
        if c == "/":
            if not operand and depth:
                raise _refuse("an absolute path inside a predicate")
            if select.startswith("//", i):
                _descend(depth, descendants)
                out.append("//")
                i += 2
            else:
                out.append("/")
                i += 1
            operand = False
            continue
        if c == "[":
            depth += 1
            if depth > MAX_PREDICATE_DEPTH:
                raise _refuse(f"predicates nested deeper than {MAX_PREDICATE_DEPTH}")
            descendants.append(0)
            out.append(c)
            i, operand = i + 1, False
            continue
        if c == "]":
            depth -= 1
            descendants.pop()
            if depth < 0:
                raise _refuse("unbalanced ]")
            out.append(c)
            i, operand = i + 1, True
            continue
        if c == "(":
            descendants.append(0)
            out.append(c)
            i, operand = i + 1, False
            continue
        if c == ")":
            if len(descendants) > depth + 1:
                descendants.pop()
            out.append(c)
            i, operand = i + 1, True
            continue
        if c == "|":
            descendants[-1] = 0  # a new location path
            out.append(c)
            i, operand = i + 1, False
            continue
        m = _NUMBER.match(select, i)
        if m and (c != "." or m.group()[1:2].isdigit()):
            out.append(m.group())
            i, operand = m.end(), True
            continue
        if c == ".":
            j = i + 2 if select.startswith("..", i) else i + 1
            if j == i + 2 and depth:
                raise _refuse("a step up (..) inside a predicate")
            out.append(select[i:j])
            i, operand = j, True
            continue
        if c == "*" and not operand:
            out.append(c)
            i, operand = i + 1, True
            continue
        m = _NAME.match(select, i)
        if m:
            name, j = m.group(), m.end()
            if select.startswith("::", j):  # an axis
                if name not in _AXES:
                    raise _refuse(f"the {name} axis")
                if name in _DESCENDANT_AXES:
                    _descend(depth, descendants)
                if name == "parent" and depth:
                    raise _refuse("a step up (parent) inside a predicate")
                out.append(name + "::")
                i, operand = j + 2, False
                continue
            if select.startswith(":", j):  # prefix:name or prefix:*
                local = _NAME.match(select, j + 1)
                if local is None and not select.startswith("*", j + 1):
                    raise _refuse(f"nothing after the prefix {name}:")
                ns = filter_el.namespace_for(name)
                module = schema.module_for_namespace(ns) if ns else None
                if module is None:
                    why = f"prefix {name!r} is not declared" if ns is None else f"no module of namespace {ns!r}"
                    raise _refuse(why)
                end = local.end() if local is not None else j + 2
                out.append(f"{module}:{select[j + 1 : end]}")
                i, operand = end, True
                continue
            if select[j:].lstrip().startswith("(") and not (operand and name in _OPERATOR_NAMES):
                if name not in FUNCTIONS:
                    raise _refuse(f"the function {name}()")
                out.append(name)
                i, operand = j, False
                continue
            out.append(name)
            i = j
            # an operator name ends nothing; a function name is followed by "("
            operand = not (operand and name in _OPERATOR_NAMES)
            continue
        out.append(c)  # operators: = != < > + - , @ and the like
        i, operand = i + 1, False
    if depth:
        raise _refuse("unbalanced [")
    return "".join(out)


def _descend(depth: int, descendants: list[int]) -> None:
    if depth:
        raise _refuse("a descendant step inside a predicate")
    descendants[-1] += 1
    if descendants[-1] > 1:
        raise _refuse("more than one descendant step in a location path")
