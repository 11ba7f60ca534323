"""Times as YANG's date-and-time (RFC 6991) text, in UTC."""

from __future__ import annotations

import datetime


def when(ts: float | None) -> str | None:
    """A POSIX time as date-and-time text; None stays None (a leaf left out)."""
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
