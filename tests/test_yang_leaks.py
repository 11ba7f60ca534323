"""C allocations the agent makes through libyang are freed: counted calls,
not memory thresholds (a leak of one small struct per notification only
shows as slow growth after days on a box)."""

from __future__ import annotations

import json

import libyang.util
import pytest

import agent.yang
import agent.yang.schema


class _Counting:
    """The cffi lib, counting the calls of a few of its functions."""

    def __init__(self, lib, names: tuple[str, ...]) -> None:
        self._lib = lib
        self.calls = dict.fromkeys(names, 0)

    def __getattr__(self, name: str):
        fn = getattr(self._lib, name)
        if name not in self.calls:
            return fn

        def counted(*args):
            self.calls[name] += 1
            return fn(*args)

        return counted


@pytest.fixture
def ly_in_calls(monkeypatch):
    """ly_in_new_memory / ly_in_free calls, by the agent and by the bindings."""
    counting = _Counting(agent.yang.schema.lib, ("ly_in_new_memory", "ly_in_free"))
    monkeypatch.setattr(agent.yang.schema, "lib", counting)  # where _parse_op calls it
    monkeypatch.setattr(libyang.util, "lib", counting)
    return counting.calls


def test_notification_frees_its_input(schema, ly_in_calls):
    body = {"ietf-netconf-notifications:netconf-session-start": {"username": "admin", "session-id": 7}}
    for _ in range(3):
        module, name, xml = schema.notification_xml(json.dumps(body))
    assert (module, name) == ("ietf-netconf-notifications", "netconf-session-start")
    assert "<session-id>7</session-id>" in xml
    assert ly_in_calls["ly_in_new_memory"] == 3
    assert ly_in_calls["ly_in_free"] == 3


def test_invalid_notification_frees_its_input(schema, ly_in_calls):
    with pytest.raises(agent.yang.YangError):
        schema.notification_xml(json.dumps({"ietf-netconf-notifications:netconf-session-start": {"session-id": "x"}}))
    assert ly_in_calls["ly_in_new_memory"] == ly_in_calls["ly_in_free"] == 1
