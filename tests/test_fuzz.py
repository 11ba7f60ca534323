"""The fuzz targets without atheris: seeds, kept regressions, and a short
deterministic mutation run (``make fuzz`` runs atheris for a million inputs)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fuzz.targets import TARGETS, get

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
REGRESSIONS = Path(__file__).parent / "fuzz_regressions"
RUNS = {"framing": 20000, "xml": 20000, "session": 20000, "edit": 3000}


def mutate(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[rng.randint(0, len(b)):rng.randint(0, len(b))] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2 and b:
            i = rng.randrange(len(b))
            del b[i : i + rng.randint(1, 16)]
        elif op == 3 and b:
            i = rng.randrange(len(b))
            j = min(len(b), i + rng.randint(1, 64))
            b[j:j] = b[i:j] * rng.randint(1, 4)
        elif op == 4:
            other = rng.choice(others)
            b[rng.randint(0, len(b)):] = other[rng.randint(0, len(other)):]
        else:
            tokens = [b"<", b">", b"]]>]]>", b"\n#", b"\n##\n", b"&", b"<!DOCTYPE", b"xmlns=", b":", b'"', b"\n#0\n"]
            b[rng.randint(0, len(b)):0] = rng.choice(tokens)
    return bytes(b)


def inputs(name: str) -> list[bytes]:
    return [p.read_bytes() for p in sorted((CORPUS / name).iterdir())]


@pytest.fixture(scope="module")
def edit_target(yang_dirs):
    import os

    os.environ.setdefault("DPU_AGENT_YANG_DIR", yang_dirs[0])
    return get("edit")


@pytest.mark.parametrize("name", list(TARGETS))
def test_seeds_regressions_and_mutations(name, request):
    target = request.getfixturevalue("edit_target") if name == "edit" else get(name)
    seeds = inputs(name)
    for data in seeds:
        target(data)
    for path in sorted(REGRESSIONS.glob(f"{name}-*")):
        target(path.read_bytes())
    rng = random.Random(name)
    for _ in range(RUNS[name]):
        target(mutate(rng, rng.choice(seeds), seeds))
