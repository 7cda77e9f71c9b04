"""`aqnet-bench loader`: samples/s of aqnet's DataModule against xbatcher + torch DataLoader and raw zarr reads.

Every pipeline reads the same (init, lead) samples of one store, in the same order (the first ``--samples`` pairs
of the training split's seed-0 epoch permutation), with the same batch size and DataLoader workers:
- ``aqnet``: the DataModule's training dataset on its streaming path (``memory_limit_mb=0``, what every store larger
  than memory takes), through torch's DataLoader with aqnet's collate, exactly as training reads it;
- ``xbatcher``: ``xbatcher.BatchGenerator`` over the inputs at the samples' init times and the targets at their
  valid times (one time step per generator item, ``input_dims`` = the whole grid), wrapped in
  ``xbatcher.loaders.torch.MapDataset`` and the same DataLoader; xarray opens the store lazily without dask
  (``chunks=None``, xarray's fastest reading mode), and there is no NaN handling or unit conversion, so this
  reference does less work than aqnet;
- ``raw``: a Dataset that reads each frame with zarr alone (``array[t]``: one chunk fetched and decoded, no
  xarray), the floor of what any reader of this layout pays per frame.
Passes are timed interleaved (aqnet, xbatcher, raw, aqnet, ...); each pass starts with fresh handles and an empty
chunk cache. Where the time goes comes from one extra single-process aqnet pass: chunks and MB decoded per sample,
and the share of the wall time spent fetching + decoding chunks (the rest: unit conversion, NaN filling, stacking,
collation).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from aqnet.bench.measure import emit, measure_interleaved, note
from aqnet.data.batch import collate_batch
from aqnet.data.datamodule import AirQualityDataModule
from aqnet.data.dataset import ForecastDataset
from aqnet.errors import ConfigError
from aqnet.variables import INPUT_VARIABLES, POLLUTANTS

__all__ = ["run", "default_stores"]


class RawZarrDataset(torch.utils.data.Dataset):
    """Sample k: every input frame at its init time and target frame at its valid time, read with zarr alone."""

    def __init__(self, path: Path, pairs: np.ndarray, inputs: tuple[str, ...], targets: tuple[str, ...]) -> None:
        self.path, self.pairs, self.inputs, self.targets = path, pairs, inputs, targets
        self._arrays: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.pairs)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arrays": None}

    def _frame(self, name: str, t: int) -> np.ndarray:
        if self._arrays is None:
            import zarr

            group = zarr.open_group(self.path, mode="r")
            self._arrays = {n: group[n] for n in (*self.inputs, *self.targets)}
        array = self._arrays[name]
        return np.asarray(array[t] if array.ndim == 3 else array[...], dtype=np.float32)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        t0, t1 = (int(t) for t in self.pairs[k])
        inputs = np.stack([self._frame(n, t0) for n in self.inputs])
        targets = np.stack([self._frame(n, t1) for n in self.targets])
        return torch.from_numpy(inputs), torch.from_numpy(targets)


def xbatcher_dataset(path: Path, pairs: np.ndarray, inputs: tuple[str, ...], targets: tuple[str, ...]) -> Any:
    import xarray as xr
    import xbatcher
    from xbatcher.loaders.torch import MapDataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = xr.open_zarr(path, chunks=None)
    grid = {"lat": ds.sizes["lat"], "lon": ds.sizes["lon"], "time": 1}
    x = xbatcher.BatchGenerator(ds[list(inputs)].isel(time=pairs[:, 0]), input_dims=grid)
    y = xbatcher.BatchGenerator(ds[list(targets)].isel(time=pairs[:, 1]), input_dims=grid)
    return MapDataset(x, y, transform=_stack_variables, target_transform=_stack_variables)


def _stack_variables(batch: Any) -> torch.Tensor:
    """[V, H, W] of an xbatcher item (xbatcher's default transform takes a single variable)."""
    return torch.as_tensor(batch.to_array().transpose("variable", "time", "lat", "lon").values[:, 0])


def default_stores() -> list[Path]:
    """The tiny benchmark (generated once) and its conversion by `aqnet-data convert` (written once)."""
    from aqnet.data.convert import convert
    from aqnet.data.synthetic import write_benchmark
    from aqnet.paths import benchmark_store_path

    bench = write_benchmark(benchmark_store_path("tiny", 0), size="tiny", seed=0)
    converted = bench.with_name(bench.stem + "_converted.zarr")
    if not converted.exists():
        convert([bench], converted)
    return [bench, converted]


def _loader(dataset: Any, batch: int, workers: int, collate: Any = None) -> DataLoader:
    kwargs = {"collate_fn": collate} if collate is not None else {}
    return DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=workers, **kwargs)


def _drain(loader: DataLoader) -> int:
    return sum(1 for _ in loader)


def _fresh(dataset: ForecastDataset) -> ForecastDataset:
    dataset._ds = dataset._reader = None  # new handles and an empty chunk cache for every pass
    return dataset


def profile(dataset: ForecastDataset, indices: list[int], batch: int) -> dict[str, float]:
    """One single-process pass: chunks and MB decoded per sample, share of time in chunk fetch + decode."""
    _fresh(dataset)
    reader = dataset.reader
    inner, spent = reader.frames, [0.0]

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    reader.frames = timed  # type: ignore[method-assign]
    started = time.perf_counter()
    for i in range(0, len(indices), batch):
        collate_batch(dataset.__getitems__(indices[i : i + batch]))
    wall = time.perf_counter() - started
    n, counts = len(indices), reader.counters
    _fresh(dataset)
    return {
        "zarr_calls_per_sample": counts.calls / n,
        "chunks_per_sample": counts.chunks / n,
        "frames_per_sample": counts.frames / n,
        "decoded_mb_per_sample": counts.bytes / n / 2**20,
        "read_share": spent[0] / wall,
        "single_process_samples_per_s": n / wall,
    }


def bench_store(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    dm = AirQualityDataModule(
        path,
        INPUT_VARIABLES,
        POLLUTANTS,
        train_years=args.train_years,
        val_years=args.val_years,
        test_years=args.test_years,
        batch_size=args.batch,
        num_workers=args.workers,
        memory_limit_mb=0,
    )
    dm.setup()
    dataset = dm.datasets["train"]
    order = dm.train_sampler().indices(0)[: args.samples].tolist()
    pairs = np.stack([dataset.index.init_index[order], dataset.index.valid_index[order]], axis=1)
    inputs, targets = dm.input_variables, dm.target_variables
    aqnet = _loader(torch.utils.data.Subset(dataset, order), args.batch, args.workers, collate_batch)
    xbatch = _loader(xbatcher_dataset(dm.handle.path, pairs, inputs, targets), args.batch, args.workers)
    note(f"loader {path}: {len(order)} samples, batch {args.batch}, {args.workers} workers, {args.repeats} repeats")
    fns = [
        lambda: (_fresh(dataset), _drain(aqnet)),
        lambda: _drain(xbatch),
        lambda: _drain(_loader(RawZarrDataset(dm.handle.path, pairs, inputs, targets), args.batch, args.workers)),
    ]
    results = measure_interleaved(fns, torch.device("cpu"), args.repeats)
    rates = {name: len(order) / r.median_s for name, r in zip(("aqnet", "xbatcher", "raw"), results, strict=True)}
    chunks = dm.handle.dataset[POLLUTANTS[0]].encoding.get("chunks")
    record: dict[str, Any] = {
        "command": "loader",
        "store": str(dm.handle.path),
        "grid": "x".join(map(str, dm.grid_shape)),
        "time_chunk": None if chunks is None else int(chunks[0]),
        "samples": len(order),
        "batch": args.batch,
        "workers": args.workers,
        "repeats": args.repeats,
        **{f"{name}_samples_per_s": rate for name, rate in rates.items()},
        **{f"{name}_median_s": r.median_s for name, r in zip(rates, results, strict=True)},
        "ratio_to_xbatcher": rates["aqnet"] / rates["xbatcher"],
        "ratio_to_raw": rates["aqnet"] / rates["raw"],
        **profile(dataset, order, args.batch),
        "load_average": list(os.getloadavg()),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
    }
    note(
        f"loader: aqnet {rates['aqnet']:.0f}/s, xbatcher {rates['xbatcher']:.0f}/s, raw {rates['raw']:.0f}/s "
        f"({record['ratio_to_xbatcher']:.2f}x xbatcher, {record['ratio_to_raw']:.2f}x raw)"
    )
    return record


def run(args: argparse.Namespace) -> None:
    stores = [Path(p).expanduser().resolve() for p in args.store] if args.store else default_stores()
    for path in stores:
        if not path.exists():
            raise ConfigError(f"--store {path}: no such store")
    for path in stores:
        emit(bench_store(path, args))
