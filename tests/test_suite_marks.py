"""The suite's own set-up: each entry of tests/conftest.py's SERIAL (the tests
that run alone, after the parallel ones) still names a file or a test, so
that a rename cannot quietly send a memory or latency measurement back among
the parallel workers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import SERIAL

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("node", sorted(SERIAL))
def test_each_serial_entry_names_a_test(node):
    path, _, name = node.partition("::")
    assert (ROOT / path).is_file(), path
    if name:
        assert re.search(rf"^(async )?def {name}\(", (ROOT / path).read_text(), re.M), node


def test_the_serial_tests_are_marked(request):
    marked = {item.nodeid.split("[")[0] for item in request.session.items if item.get_closest_marker("serial")}
    here = {item.nodeid.split("[")[0] for item in request.session.items}
    for node in SERIAL:
        if node in here or "::" not in node and any(n.startswith(node + "::") for n in here):
            assert node in marked or any(n.startswith(node + "::") for n in marked), node
