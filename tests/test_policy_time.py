"""Back-off between exhausted cycles and the periodic schedule: pure functions."""

import datetime
import random

import pytest

from agent.callhome.policy import backoff_delay, next_periodic_start

MIN = 60


def ts(text):
    return datetime.datetime.fromisoformat(text).timestamp()


def test_backoff_grows_is_bounded_and_jittered():
    rng = random.Random(7)
    for n in range(1, 15):
        cap = min(300, 2 ** (n - 1))
        delays = [backoff_delay(n, 1, 300, rng) for _ in range(200)]
        assert all(1 <= d <= cap for d in delays)
        if cap >= 8:
            # full jitter: a fleet spreads over the whole window, not in lock-step
            assert max(delays) - min(delays) > cap / 2
    assert backoff_delay(1, 1, 300, rng) == 1
    assert backoff_delay(100, 1, 300, rng) <= 300


@pytest.mark.parametrize(
    "now, anchor, period, expect",
    [
        # anchor 00:15, every 24 h: at 10:00 the next one is tomorrow 00:15
        ("2026-11-27T10:00:00+00:00", "2026-01-01T00:15:00+00:00", 24 * 60 * MIN, "2026-11-28T00:15:00+00:00"),
        # exactly on a boundary: now
        ("2026-11-27T00:15:00+00:00", "2026-01-01T00:15:00+00:00", 24 * 60 * MIN, "2026-11-27T00:15:00+00:00"),
        # one second after a boundary: the next one, not the one that just passed
        ("2026-11-27T00:15:01+00:00", "2026-01-01T00:15:00+00:00", 24 * 60 * MIN, "2026-11-28T00:15:00+00:00"),
        # anchor in the future: boundaries before it count too
        ("2026-11-27T10:07:00+00:00", "2030-01-01T00:00:00+00:00", 60 * MIN, "2026-11-27T11:00:00+00:00"),
        # hourly at :20 — the regression: 10:50 is 30 min *since* 10:20 but 30 min *until* 11:20
        ("2026-11-27T10:50:00+00:00", "2026-11-27T00:20:00+00:00", 60 * MIN, "2026-11-27T11:20:00+00:00"),
        ("2026-11-27T10:30:00+00:00", "2026-11-27T00:20:00+00:00", 60 * MIN, "2026-11-27T11:20:00+00:00"),
    ],
)
def test_next_periodic_start(now, anchor, period, expect):
    assert next_periodic_start(ts(now), period, ts(anchor)) == ts(expect)


def test_next_start_never_in_the_past_and_within_one_period():
    rng = random.Random(3)
    for _ in range(1000):
        anchor = rng.uniform(0, 2e9)
        now = rng.uniform(0, 2e9)
        period = rng.choice([60, 300, 3600, 86400, 65535 * 60])
        start = next_periodic_start(now, period, anchor)
        assert now <= start < now + period + 1e-3
        assert abs(((start - anchor) / period) - round((start - anchor) / period)) < 1e-6
