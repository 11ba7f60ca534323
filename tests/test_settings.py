"""Settings validate themselves and hold every default."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from agent import settings as settings_mod
from agent.callhome.manager import ManagerSettings
from agent.netconf.framing import FrameDecoder
from agent.server import Limits
from agent.settings import Settings, SettingsError


@pytest.mark.parametrize(
    "values, complaint",
    [
        pytest.param({"login_timeout": 0}, "login_timeout: 0 must be above 0", id="login-timeout-zero"),
        pytest.param({"backoff_min": -1.0}, "backoff_min: -1 must be above 0", id="backoff-min-negative"),
        pytest.param({"backoff_min": 10.0, "backoff_max": 5.0}, "backoff_min (10) is above backoff_max (5)", id="backoff-inverted"),
        pytest.param({"watchdog_timeout": "30"}, "watchdog_timeout: '30' is not a whole number above 0", id="watchdog-timeout-text"),
        pytest.param({"max_message_size": True}, "max_message_size: True is not a whole number", id="message-size-bool"),
        pytest.param({"hello_timeout": -1.0}, "hello_timeout: -1 is below 0", id="hello-timeout-negative"),
        pytest.param({"login_timeout": "60"}, "login_timeout: '60' is not a number", id="login-timeout-text"),
    ],
)
def test_bad_settings_are_refused_with_the_setting_named(values, complaint):
    with pytest.raises(SettingsError) as e:
        Settings(**values)
    assert complaint in str(e.value)


def test_a_missing_initial_configuration_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="nope.xml: no such file"):
        Settings(config_file=tmp_path / "nope.xml")


def test_the_defaults_are_valid_and_a_hello_timeout_of_zero_means_none():
    Settings()
    assert Settings(hello_timeout=0).hello_timeout == 0


def _default(cls: type, name: str) -> object:
    """The default of a constructor argument (a dataclass's field or a plain class's parameter)."""
    return inspect.signature(cls).parameters[name].default


def test_the_components_defaults_are_the_settings_defaults():
    s = Settings()
    assert FrameDecoder().max_message_size == s.max_message_size == settings_mod.MAX_MESSAGE_SIZE
    assert (Limits().max_sessions, Limits().max_sessions_per_connection, Limits().hello_timeout) == (
        s.max_sessions, s.max_sessions_per_connection, s.hello_timeout)
    for name in ("login_timeout", "backoff_min", "backoff_max"):
        assert _default(ManagerSettings, name) == getattr(s, name)


def test_the_help_text_shows_the_settings_defaults():
    out = subprocess.run([sys.executable, "-m", "agent", "run", "--help"], capture_output=True, text=True, check=True).stdout
    text = " ".join(out.split())
    s = Settings()
    assert f"(RFC 8071 S5; default: {s.login_timeout:g})" in text
    assert f"failed (default: {s.backoff_min:g})" in text and f"failed (default: {s.backoff_max:g})" in text
    assert f"(default: {s.watchdog_timeout})" in text and f"(default: {s.watchdog_path})" in text
