"""`aqnet-data`: generate the built-in benchmark store and inspect any store.

aqnet-data synth --size tiny|small|full [--out PATH] [--seed N] [--box LAT0 LAT1 LON0 LON1] [--blocking off|on|strong]
aqnet-data inspect STORE [--climate]
aqnet-data compare-variants STORE_A STORE_B [--variable pm25]
aqnet-data stations BENCHMARK --to STORE [--noise 0.1] [--seed N] [--overwrite]
aqnet-data convert SOURCE... --to STORE [--grid G] [--box LAT0 LAT1 LON0 LON1] [--years Y ...] [--step 3h]
                   [--elevation pvlib|FILE] [--population FILE] [--stations-table FILE] [--overwrite] [--time-chunk N]
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
    synth.add_argument(
        "--blocking",
        default="on",
        help="terrain blocking of transport: off | on (default) | strong; same seed = same weather and emissions",
    )

    inspect = commands.add_parser("inspect", help="print variables, units, shapes, time ranges, NaN fractions")
    inspect.add_argument("store", type=Path, help="path of a zarr store")
    inspect.add_argument(
        "--climate", action="store_true", help="print realism figures per built-in region instead (docs/data.md)"
    )
    variants = commands.add_parser(
        "compare-variants", help="how much two paired benchmark variants differ near relief (e.g. blocking on/off)"
    )
    variants.add_argument("store_a", type=Path, metavar="STORE_A", help="e.g. the blocking=on store")
    variants.add_argument("store_b", type=Path, metavar="STORE_B", help="e.g. the blocking=off store")
    variants.add_argument("--variable", default="pm25", help="variable to compare (default pm25)")
    stations = commands.add_parser(
        "stations", help="virtual stations at the benchmark's cities, as a station store (docs/data.md)"
    )
    stations.add_argument("benchmark", type=Path, metavar="BENCHMARK", help="a store written by `aqnet-data synth`")
    stations.add_argument("--to", type=Path, required=True, help="the station store to write")
    stations.add_argument("--noise", type=float, default=0.1, help="σ of the lognormal representativeness error")
    stations.add_argument("--seed", type=int, default=0, help="seed of that error (default 0)")
    stations.add_argument("--overwrite", action="store_true", help="replace an existing aqnet store at --to")
    _convert_parser(commands)
    return parser


def _convert_parser(commands: argparse._SubParsersAction) -> None:
    convert = commands.add_parser(
        "convert", help="ERA5 / CAMS / CAQRA-style zarr / station CSVs as delivered -> one aqnet store (docs/data.md)"
    )
    convert.add_argument("sources", type=Path, nargs="+", metavar="SOURCE", help="files or zarr stores, any mix")
    convert.add_argument("--to", type=Path, required=True, help="the store to write (never over a non-aqnet path)")
    convert.add_argument("--grid", help="cell size in degrees (0.25 or 0.25x0.5, with --box) or a store/netCDF to copy")
    convert.add_argument("--box", type=float, nargs=4, metavar=("LAT0", "LAT1", "LON0", "LON1"), help="domain")
    convert.add_argument("--years", type=int, nargs="+", metavar="Y", help="keep only these years")
    convert.add_argument("--step", help="time step of the store, e.g. 3h (default: the coarsest source's)")
    convert.add_argument("--elevation", help="pvlib or a GeoTIFF / netCDF DEM (default: a source's own, else pvlib)")
    convert.add_argument("--population", type=Path, help="WorldPop-style GeoTIFF of population")
    convert.add_argument("--population-units", choices=("per-pixel", "per-km2"), help="default: from the file name")
    convert.add_argument("--stations-table", type=Path, help="station CSVs: code, lat, lon[, elevation] per station")
    convert.add_argument("--overwrite", action="store_true", help="replace an existing aqnet store at --to")
    convert.add_argument("--time-chunk", type=int, default=1, help="time steps per chunk (1: fastest reads)")


def _synth(args: argparse.Namespace) -> None:
    from aqnet.data.synthetic import write_benchmark
    from aqnet.data.synthetic.blocking import check_blocking

    check_blocking(args.blocking)  # before anything is looked at or written
    default = benchmark_store_path(args.size, args.seed)
    if args.blocking != "on" and args.out is None:
        default = default.with_name(default.name.replace(".zarr", f"_blocking-{args.blocking}.zarr"))
    out = (args.out or default).expanduser().resolve()
    existed = out.exists()
    started = time.perf_counter()
    box = tuple(args.box) if args.box else None
    path = write_benchmark(out, size=args.size, seed=args.seed, box=box, blocking=args.blocking)
    verb = "reused existing" if existed else f"wrote in {time.perf_counter() - started:.1f} s"
    print(f"benchmark store ({args.size}, seed {args.seed}, blocking {args.blocking}) {verb}: {path}")


def _inspect(args: argparse.Namespace) -> None:
    store = args.store.expanduser().resolve()
    if args.climate:
        from aqnet.data.climate import format_climate, region_climates
        from aqnet.data.store import open_dataset

        print(format_climate(region_climates(open_dataset(store, chunks=None)[0], store), store))
        return
    from aqnet.data.report import inspect_store

    print(inspect_store(store).format())


def _compare_variants(args: argparse.Namespace) -> None:
    from aqnet.data.variants import compare_stores

    a, b = (p.expanduser().resolve() for p in (args.store_a, args.store_b))
    print(compare_stores(a, b, args.variable).format())


def _stations(args: argparse.Namespace) -> None:
    from aqnet.data.stations import open_station_store
    from aqnet.data.synthetic.stations import write_virtual_stations

    path = write_virtual_stations(args.benchmark, args.to, args.noise, args.seed, args.overwrite)
    store = open_station_store(path)
    print(f"wrote station store {path} ({store.codes.size} stations x {store.times.size} times, noise {args.noise})")


def _convert(args: argparse.Namespace) -> None:
    from aqnet.data.convert import convert

    started = time.perf_counter()
    result = convert(
        args.sources,
        args.to,
        grid=args.grid,
        box=tuple(args.box) if args.box else None,
        years=args.years,
        step=args.step,
        elevation=args.elevation,
        population=args.population,
        population_units=args.population_units,
        stations_table=args.stations_table,
        overwrite=args.overwrite,
        time_chunk=args.time_chunk,
    )
    shape = " ".join(f"{k}={v}" for k, v in result.shape.items())
    print(f"wrote {result.kind} store {result.path} ({shape}) in {time.perf_counter() - started:.1f} s")
    for line in result.lines:
        print(f"  {line}")


def _main() -> None:
    args = _parser().parse_args()
    commands = {
        "synth": _synth,
        "inspect": _inspect,
        "convert": _convert,
        "compare-variants": _compare_variants,
        "stations": _stations,
    }
    commands[args.command](args)


def main() -> int:
    return run_cli(_main)


if __name__ == "__main__":
    raise SystemExit(main())
