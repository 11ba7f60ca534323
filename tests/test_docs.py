"""The documentation points at things that exist: every relative link of
README.md, docs/*.md, board/README.md and buildroot/README.md resolves (file,
and heading when it names one), and every ``agent/...`` path the documents
mention is in the tree.

Documents drift when code moves; this fails at the commit that moved it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             ROOT / "board" / "README.md", ROOT / "buildroot" / "README.md"]

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
AGENT_PATH = re.compile(r"(?<![\w/.-])agent/[\w./@-]*")


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in _prose(path.read_text()):
        m = re.match(r"#{1,6}\s+(.*)", line)
        if not m:
            continue
        slug = _slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def test_the_documents_are_there():
    names = {p.name for p in DOCUMENTS}
    for name in ("conformance.md", "operating.md", "plugins.md", "boards.md", "firmware.md",
                 "performance.md", "testing.md", "architecture.md"):
        assert name in names


def test_slug_follows_github():
    assert _slug("The emulated board (QEMU)") == "the-emulated-board-qemu"
    assert _slug("Call home (RFC 8071)") == "call-home-rfc-8071"
    assert _slug("Flow 2: a keepalive idle-time from edit-config to setsockopt") == \
        "flow-2-a-keepalive-idle-time-from-edit-config-to-setsockopt"


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(doc: Path):
    broken = []
    for line in _prose(doc.read_text()):
        for target in LINK.findall(line):
            if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            path = (doc.parent / file_part).resolve() if file_part else doc
            if not path.exists():
                broken.append(f"{target}: no such file")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{target}: no heading #{anchor} in {path.relative_to(ROOT)}")
    assert not broken, f"{doc.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_agent_paths_exist(doc: Path):
    missing = []
    for path in sorted(set(AGENT_PATH.findall(doc.read_text()))):
        path = path.rstrip(".")
        if not path.rstrip("/") or "<" in path:
            continue
        where = ROOT / path
        # a YANG module may be named without its revision: agent/modules/dpu-agent
        if where.exists() or list(where.parent.glob(where.name + "@*")):
            continue
        missing.append(path)
    assert not missing, f"{doc.relative_to(ROOT)} names what is not in the tree: {', '.join(missing)}"
