import random

from agent.callhome.policy import EndpointCycle


def test_first_listed_round_robin_with_attempts():
    p = EndpointCycle(["a", "b", "c"], max_attempts=2)
    assert p.cycle() == ["a", "a", "b", "b", "c", "c"]
    p.connected("b")
    assert p.cycle()[0] == "a"


def test_last_connected_starts_there_and_falls_back_to_first():
    p = EndpointCycle(["a", "b", "c"], start_with="last-connected", max_attempts=1)
    assert p.cycle() == ["a", "b", "c"]
    p.connected("c")
    assert p.cycle() == ["c", "a", "b"]
    p.connected("gone")
    assert p.cycle() == ["a", "b", "c"]


def test_random_selection_uses_every_start():
    p = EndpointCycle(["a", "b", "c"], start_with="random-selection", max_attempts=1, rng=random.Random(1))
    starts = {p.cycle()[0] for _ in range(50)}
    assert starts == {"a", "b", "c"}
    assert sorted(p.cycle()) == ["a", "b", "c"]
