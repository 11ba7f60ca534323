"""Crash injection on the configuration store: power cuts before every os
call of a save, a failure of every os call, short writes, and SIGKILL of a
process that saves in a loop. Every reload must give exactly the old or the
new configuration, from the current slot, and the previous slot must hold a
good one.

`make test` runs DPU_AGENT_CRASH_ITERATIONS=100 (the default here) of each;
`make stress` runs 1000.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from agent.datastore import persist
from agent.datastore.persist import PREVIOUS, StartupStore, StoreError
from agent.datastore.sids import SidMap

from .support.crashsim import PowerCut, SimulatedOs

ITERATIONS = int(os.environ.get("DPU_AGENT_CRASH_ITERATIONS", "100"))
FIXTURE = Path(__file__).parent / "data" / "running-v1.json"


@pytest.fixture(scope="module")
def sids(schema):
    return SidMap(schema)


def _variants() -> list[dict]:
    """Four configurations that differ in several places each."""
    base = json.loads(FIXTURE.read_text())
    out = [base]
    client = lambda cfg: cfg["ietf-netconf-server:netconf-server"]["call-home"]["netconf-client"]  # noqa: E731
    b = json.loads(json.dumps(base))
    client(b)[0]["reconnect-strategy"]["max-attempts"] = 7
    client(b)[0]["endpoints"]["endpoint"][0]["ssh"]["tcp-client-parameters"]["remote-address"] = "198.51.100.7"
    out.append(b)
    c = json.loads(json.dumps(base))
    second = json.loads(json.dumps(client(c)[0]))
    second["name"] = "nms2"
    second["endpoints"]["endpoint"][1]["ssh"]["tcp-client-parameters"]["remote-port"] = 4444
    client(c).append(second)
    out.append(c)
    d = json.loads(json.dumps(base))
    del client(d)[0]["endpoints"]["endpoint"][1]
    del client(d)[0]["endpoints"]["endpoint"][0]["ssh"]["tcp-client-parameters"]["keepalives"]
    out.append(d)
    return out


@pytest.fixture(scope="module")
def pool(schema) -> list[str]:
    """The variants as libyang prints them (the form loads are compared in)."""
    texts = []
    for cfg in _variants():
        tree = schema.parse(json.dumps(cfg), "json")
        texts.append(tree.to_json())
        tree.free()
    assert len(set(texts)) == len(texts)
    return texts


def save(cf: StartupStore, text: str) -> None:
    tree = cf.schema.parse(text, "json")
    try:
        cf.save(tree)
    finally:
        tree.free()


def reload(directory: Path, schema, sids):
    loaded = StartupStore(directory, schema, sids).load()
    if loaded is None:
        return None, None
    try:
        return loaded.source, loaded.tree.to_json()
    finally:
        loaded.tree.free()


def previous_slot(directory: Path, schema, sids) -> str | None:
    path = directory / PREVIOUS
    if not path.exists():
        return None
    tree = StartupStore(directory, schema, sids).decode(path.read_bytes(), path)
    try:
        return tree.to_json()
    finally:
        tree.free()


def prepared(directory: Path, schema, sids, pool, rng: random.Random) -> tuple[StartupStore, str | None, str]:
    """A store that has seen 0 to 2 saves (mostly 2: both slots full), maybe
    with a stale temporary file from an earlier crash; returns it, the
    configuration it holds and a different one to save next."""
    directory.mkdir(parents=True)
    history = rng.sample(pool, 3)
    prior = rng.choice([0, 1, 2, 2, 2])
    cf = StartupStore(directory, schema, sids)
    assert cf.load() is None
    for text in history[:prior]:
        save(cf, text)
    if rng.random() < 0.3:
        (directory / f".{persist.FILENAME}.tmp").write_bytes(rng.randbytes(rng.randint(0, 300)))
    return cf, (history[prior - 1] if prior else None), history[prior]


def calls_of_a_save(tmp_path: Path, schema, sids, pool) -> int:
    cf = StartupStore(tmp_path / "count", schema, sids)
    save(cf, pool[0])
    save(cf, pool[1])
    sim = SimulatedOs(cf.state_dir, random.Random(0))
    persist.os = sim
    try:
        save(cf, pool[2])
    finally:
        persist.os = os
    return len(sim.calls)


@pytest.fixture
def real_os():
    yield
    persist.os = os


def run_power_cuts(tmp_path, schema, sids, pool, iterations: int, seed: int, **sim_options):
    """Yield (iteration, old, new, outcome) after a power cut in a save, cycling
    the cut through every call of the save; outcome is (source, json) of the
    reload, or the StoreError it raised."""
    n = calls_of_a_save(tmp_path, schema, sids, pool)
    rng = random.Random(seed)
    for i in range(iterations):
        base = tmp_path / f"cut{i}"
        cf, old, new = prepared(base / "before", schema, sids, pool, rng)
        sim = SimulatedOs(cf.state_dir, rng, cut_before=i % (n + 1) + 1, **sim_options)
        persist.os = sim
        try:
            save(cf, new)
        except PowerCut:
            pass
        finally:
            persist.os = os
        sim.after_power_cut(base / "after")
        try:
            outcome = reload(base / "after", schema, sids)
        except StoreError as exc:
            outcome = exc
        yield i, old, new, outcome, base / "after"


def test_power_cut_before_any_call_of_a_save_leaves_the_old_or_the_new(tmp_path, schema, sids, pool, real_os):
    seen = {"old": 0, "new": 0}
    for i, old, new, outcome, after in run_power_cuts(tmp_path, schema, sids, pool, ITERATIONS, seed=1):
        assert not isinstance(outcome, StoreError), f"iteration {i}: {outcome}"
        source, text = outcome
        if old is None and source is None:
            continue  # the first save never reached the disk
        assert source == "current", f"iteration {i}: loaded from {source}"
        assert text in (old, new), f"iteration {i}: neither the old nor the new configuration"
        seen["old" if text == old else "new"] += 1
        prev = previous_slot(after, schema, sids)
        assert prev is None or prev in pool, f"iteration {i}: the previous slot is not a saved configuration"
    if ITERATIONS >= 50:
        assert seen["old"] and seen["new"], seen


def test_the_power_cut_model_catches_a_writer_that_does_not_fsync(tmp_path, schema, sids, pool, real_os):
    """The simulation is strong enough to matter: ignore every fsync and a
    power cut leaves a current slot that is neither configuration."""
    for _i, old, new, outcome, _ in run_power_cuts(tmp_path, schema, sids, pool, 200, seed=2, honour_fsync=False):
        if isinstance(outcome, StoreError) or outcome[0] == "previous" or (old is not None and outcome[1] not in (old, new)):
            return
    pytest.fail("200 power cuts against a writer without fsync went unnoticed")


def test_a_failing_os_call_leaves_the_store_as_it_was(tmp_path, schema, sids, pool, real_os):
    """A failure of any call up to the rename that commits raises and changes
    nothing; after it (the directory sync) the new configuration is in place."""
    n = calls_of_a_save(tmp_path, schema, sids, pool)
    rng = random.Random(3)
    for i in range(max(ITERATIONS, n)):
        cf, old, new = prepared(tmp_path / f"fail{i}", schema, sids, pool, rng)
        k = i % n + 1
        sim = SimulatedOs(cf.state_dir, rng, fail_at=k)
        persist.os = sim
        try:
            save(cf, new)
            failed = False
        except OSError:
            failed = True
        finally:
            persist.os = os
        source, text = reload(cf.state_dir, schema, sids)
        if failed:
            assert text == old, f"iteration {i}: a failed {sim.calls[k - 1]} changed the configuration"
            assert source == ("current" if old else None)
        else:
            assert k > len(sim.calls) or "rename" not in sim.calls[k:], f"iteration {i}: {sim.calls[k - 1]} failed silently"
            assert (source, text) == ("current", new), f"iteration {i}"
        leftovers = [p.name for p in cf.state_dir.iterdir() if p.name.endswith(".tmp")]
        assert not leftovers, f"iteration {i}: {leftovers}"
        # the store keeps working: the next save makes what is current now the previous one
        following = pool[(pool.index(new) + 1) % len(pool)]
        save(cf, following)
        assert reload(cf.state_dir, schema, sids) == ("current", following)
        if text is not None:
            assert previous_slot(cf.state_dir, schema, sids) == text, f"iteration {i}"


def test_short_writes_are_completed(tmp_path, schema, sids, pool, real_os):
    rng = random.Random(4)
    for i in range(max(ITERATIONS // 10, 5)):
        cf, old, new = prepared(tmp_path / f"short{i}", schema, sids, pool, rng)
        sim = SimulatedOs(cf.state_dir, rng, short_writes=True)
        persist.os = sim
        try:
            save(cf, new)
        finally:
            persist.os = os
        assert sim.calls.count("write") > 1
        assert reload(cf.state_dir, schema, sids) == ("current", new)
        assert previous_slot(cf.state_dir, schema, sids) == old


def test_sigkill_while_saving(tmp_path, schema, sids, pool):
    """A child process saves in a loop and is killed at a random moment:
    the store it leaves always loads, from the current slot."""
    state = tmp_path / "state"
    cf = StartupStore(state, schema, sids)
    save(cf, pool[0])
    trees = [schema.parse(text, "json") for text in pool]
    rng = random.Random(5)
    killed_mid_save = 0
    try:
        for i in range(ITERATIONS):
            pid = os.fork()
            if pid == 0:  # the child: save other configurations as fast as it can
                try:
                    child = StartupStore(state, schema, sids)
                    child.load()
                    k = i
                    while True:
                        child.save(trees[k % len(trees)])
                        k += 1
                finally:
                    os._exit(1)
            time.sleep(rng.uniform(0.002, 0.03))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            if (state / f".{persist.FILENAME}.tmp").exists():
                killed_mid_save += 1
            source, text = reload(state, schema, sids)
            assert source == "current" and text in pool, f"iteration {i}"
            assert previous_slot(state, schema, sids) in (None, *pool)
    finally:
        for t in trees:
            t.free()
    if ITERATIONS >= 50:
        assert killed_mid_save, "no kill landed inside a save"
