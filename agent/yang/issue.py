"""What the agent sees of a libyang error: NETCONF-ready issues. No libyang
here, so anything may import it."""

from __future__ import annotations

from typing import NamedTuple


class Issue(NamedTuple):
    """One validation problem, already mapped to NETCONF terms (RFC 6241 App. A,
    RFC 7950 section 15)."""

    tag: str
    message: str
    path: str | None = None  # data path, libyang JSON form
    app_tag: str | None = None


class YangError(Exception):
    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(i.message + (f" ({i.path})" if i.path else "") for i in issues))
        self.issues = issues
