"""libyang's JSON-style data paths -> XML instance-identifiers."""

from __future__ import annotations

import re

_STEP = re.compile(r"(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)")


def _xml_path(path: str) -> tuple[str, dict[str, str]]:
    out = []
    modules: set[str] = set()
    module = ""
    i = 0
    while i < len(path):
        c = path[i]
        if c == "/":
            out.append("/")
            i += 1
            m = _STEP.match(path, i)
            if not m:
                continue
            if m.group(1):
                module = str(m.group(1))
            modules.add(module)
            out.append(f"{module}:{m.group(2)}")
            i = m.end()
        elif c == "[":
            out.append("[")
            i += 1
            m = _STEP.match(path, i)
            if m and path[m.end() : m.end() + 1] == "=":
                key_mod = m.group(1) or module
                out.append(f"{key_mod}:{m.group(2)}")
                i = m.end()
        elif c in "'\"":
            end = path.index(c, i + 1)
            out.append(path[i : end + 1])
            i = end + 1
        else:
            out.append(c)
            i += 1
    return "".join(out), {m: m for m in modules if m}
