"""`aqnet-data`: generate the built-in benchmark store and inspect any store.

aqnet-data synth --size tiny|small|full [--out PATH] [--seed N] [--box LAT0 LAT1 LON0 LON1]
aqnet-data inspect STORE
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from aqnet.errors import fail, run_cli
from aqnet.paths import benchmark_store_path


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, like every aqnet error (argparse adds a usage block)
        fail(f"{message} (see {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aqnet-data", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser("synth", help="generate the real-terrain transport benchmark as a zarr store")
    synth.add_argument(
        "--size",
        default="tiny",
        choices=("tiny", "small", "full"),
        help="tiny: tests and the default run (seconds); small: studies (minutes); full: 128x256 hourly",
    )
    synth.add_argument("--out", type=Path, help="store path (default: $AQNET_ROOT/data/benchmark_<size>_seed<N>.zarr)")
    synth.add_argument("--seed", type=int, default=0, help="random seed of the forcing and emissions (default 0)")
    synth.add_argument(
        "--box",
        type=float,
        nargs=4,
        metavar=("LAT0", "LAT1", "LON0", "LON1"),
        help="domain in degrees (default: mainland China, 18 50 73 137)",
    )

    inspect = commands.add_parser("inspect", help="print variables, units, shapes, time ranges, NaN fractions")
    inspect.add_argument("store", type=Path, help="path of a zarr store")
    return parser


def _synth(args: argparse.Namespace) -> None:
    from aqnet.data.synthetic import write_benchmark

    out = (args.out or benchmark_store_path(args.size, args.seed)).expanduser().resolve()
    existed = out.exists()
    started = time.perf_counter()
    box = tuple(args.box) if args.box else None
    path = write_benchmark(out, size=args.size, seed=args.seed, box=box)
    verb = "reused existing" if existed else f"wrote in {time.perf_counter() - started:.1f} s"
    print(f"benchmark store ({args.size}, seed {args.seed}) {verb}: {path}")


def _inspect(args: argparse.Namespace) -> None:
    from aqnet.data.report import inspect_store

    print(inspect_store(args.store.expanduser().resolve()).format())


def _main() -> None:
    args = _parser().parse_args()
    {"synth": _synth, "inspect": _inspect}[args.command](args)


def main() -> int:
    return run_cli(_main)


if __name__ == "__main__":
    raise SystemExit(main())
