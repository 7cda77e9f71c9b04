"""`aqnet-bench`: speed and memory of the biased attention layer and of a full training step, as JSON lines.

aqnet-bench attention [--tokens N ...] [--backends dense chunked lowrank flex auto] [--mode fwd fwd+bwd]
                      [--bias topoflow|adaptive] [--wind pair_mean|receptor|source] [--ranks K ...]
                      [--batch B] [--heads H] [--head-dim D] [--repeats R] [--device cpu|cuda] [--chunk C]
                      [--dtype float32|bfloat16] [--max-dense-tokens N]
aqnet-bench step [key=value ...] [--grid full|HxW] [--batch B] [--repeats R] [--device cpu|cuda]
                 [--precision 32|bf16-mixed] [--compare-to-none] [--peak-tflops T]
aqnet-bench loader [--store PATH ...] [--samples N] [--batch B] [--workers W] [--repeats R]

stdout: one JSON object per line; stderr: progress. docs/performance.md explains every field.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from aqnet.errors import ConfigError, fail, run_cli

BACKENDS = ("dense", "chunked", "lowrank", "flex", "auto")
MODES = ("fwd", "fwd+bwd")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, like every aqnet error (argparse adds a usage block)
        fail(f"{self.prog}: {message} (see {self.prog} --help)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def _grid(text: str) -> str | tuple[int, int]:
    if text == "full":
        return text
    match = re.fullmatch(r"(\d+)x(\d+)", text)
    if match is None or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 'full' (128x256) or HxW, e.g. 32x64")
    return int(match.group(1)), int(match.group(2))


def _common(parser: argparse.ArgumentParser, repeats: int) -> None:
    parser.add_argument("--batch", type=_positive, default=1, help="samples per batch (default 1)")
    parser.add_argument("--repeats", type=_positive, default=repeats, help=f"timed calls after one warm-up ({repeats})")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default cpu")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aqnet-bench", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    att = commands.add_parser("attention", help="one biased attention layer per backend vs plain SDPA")
    att.add_argument("--tokens", type=_positive, nargs="+", default=[1024, 2048, 4096, 8192], metavar="N")
    att.add_argument("--backends", nargs="+", choices=BACKENDS, default=["dense", "chunked", "lowrank", "flex"])
    att.add_argument("--mode", nargs="+", choices=MODES, default=list(MODES))
    att.add_argument("--bias", choices=("topoflow", "adaptive"), default="topoflow")
    att.add_argument("--wind", choices=("pair_mean", "receptor", "source"), default="receptor", help="adaptive")
    att.add_argument("--ranks", type=_positive, nargs="+", default=[16], metavar="K", help="lowrank K (16)")
    att.add_argument("--heads", type=_positive, default=8, help="default 8 (climax_base)")
    att.add_argument("--head-dim", type=_positive, default=96, help="default 96 (climax_base: 768 / 8)")
    att.add_argument("--chunk", type=_positive, default=512, help="query rows per chunk (chunked backend)")
    att.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    att.add_argument(
        "--max-dense-tokens",
        type=_positive,
        help="skip dense (and flex on CPU) above this N (default 4096 on CPU, 16384 on CUDA)",
    )
    _common(att, repeats=5)

    step = commands.add_parser("step", help="one training step (fwd + bwd + AdamW) of the configured Forecaster")
    step.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, as for aqnet-train")
    step.add_argument("--grid", type=_grid, default="full", help="'full' (128x256, default) or HxW, e.g. 32x64")
    step.add_argument("--precision", choices=("32", "bf16-mixed"), default="32", help="default 32 (fp32)")
    step.add_argument("--compare-to-none", action="store_true", help="also time physics_bias=none; ratio_to_no_bias")
    step.add_argument("--peak-tflops", type=_positive_float, help="GPU peak for MFU (default: built-in table)")
    _common(step, repeats=3)
    _loader_parser(commands)
    return parser


def _loader_parser(commands: Any) -> None:
    loader = commands.add_parser("loader", help="aqnet's DataModule vs xbatcher + DataLoader vs raw zarr reads")
    loader.add_argument("--store", nargs="+", help="stores to read (default: the tiny benchmark and its conversion)")
    loader.add_argument("--samples", type=_positive, default=512, help="(init, lead) samples per pass (512)")
    loader.add_argument("--batch", type=_positive, default=8, help="samples per batch (8)")
    loader.add_argument("--workers", type=int, default=2, help="DataLoader workers of every pipeline (2)")
    loader.add_argument("--repeats", type=_positive, default=3, help="timed passes of each pipeline (3)")
    for split, years in (("train", [2013, 2014, 2015, 2016]), ("val", [2017]), ("test", [2018])):
        loader.add_argument(f"--{split}-years", type=int, nargs="+", default=years, help=f"default {years}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse; `step` overrides may come before, between or after its flags."""
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        stray = [a for a in extra if a.startswith("-") or "=" not in a or args.command != "step"]
        if stray:
            parser.error(f"unrecognized arguments: {' '.join(stray)}")
        args.overrides = [*args.overrides, *extra]
    if args.command == "step":
        bad = [o for o in args.overrides if "=" not in o]
        if bad:
            parser.error(f"step: overrides must be key=value (as for aqnet-train), got {' '.join(bad)}")
    return args


def _main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    import torch

    if args.command == "loader":
        from aqnet.bench.loader import run as run_loader

        return run_loader(args)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device cuda: no CUDA device is available (torch {torch.__version__}); use --device cpu")
    if args.command == "attention":
        from aqnet.bench.attention import run
    else:
        from aqnet.bench.step import run
    run(args)


def main() -> int:
    return run_cli(_main)


if __name__ == "__main__":
    raise SystemExit(main())
