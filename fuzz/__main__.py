"""python -m fuzz TARGET [libFuzzer options] — one target under atheris."""

import sys

import atheris

with atheris.instrument_imports():
    from agent.netconf import framing, session, xmltree  # noqa: F401
    from agent.datastore import edit  # noqa: F401

from .targets import TARGETS, get


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: python -m fuzz {{{','.join(TARGETS)}}} [libFuzzer options]")
    target = get(sys.argv[1])
    atheris.Setup([sys.argv[0]] + sys.argv[2:], target)
    atheris.Fuzz()


main()
