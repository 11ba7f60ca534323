"""``python -m board build [ARCH...]`` assembles the board images;
``python -m board selftest ARCH`` boots one and runs ``dpu-agent selftest``."""

from __future__ import annotations

import argparse
import sys
import time

from . import image


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m board")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="assemble the images under build/board/ (cached)")
    b.add_argument("arch", nargs="*", help=f"{' '.join(image.ARCHES)} (default: all)")
    s = sub.add_parser("selftest", help="boot a board and run dpu-agent selftest in it")
    s.add_argument("arch", choices=list(image.ARCHES))
    args = p.parse_args(argv)
    if args.command == "build":
        unknown = set(args.arch) - set(image.ARCHES)
        if unknown:
            p.error(f"unknown architecture {', '.join(sorted(unknown))} (known: {', '.join(image.ARCHES)})")
        t0 = time.monotonic()
        image.build(args.arch or list(image.ARCHES), image.env_mirror())
        print(f"board: built in {time.monotonic() - t0:.1f} s", file=sys.stderr)
        return 0
    from .qemu import boot_selftest

    return boot_selftest(args.arch)


sys.exit(main())
