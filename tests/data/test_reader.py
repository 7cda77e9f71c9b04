"""FrameReader (the streaming path): the same frames as xarray's decoding, for every layout a user store may have."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from aqnet.data.dataset import read_canonical
from aqnet.data.reader import FrameReader
from aqnet.data.store import open_dataset, open_store

NAMES = ("u", "temp", "pm25")


@pytest.mark.parametrize(
    "variant",
    [{}, {"descending_lat": True, "lon_360": True}, {"extra_dims": {"number": 1}}, {"time_chunk": 1}],
    ids=["plain", "descending-360", "singleton-member", "frame-chunks"],
)
def test_frames_equal_xarray_decoding(store_maker, cache: Path, variant: dict) -> None:
    path = store_maker(**variant)
    handle = open_store(path, NAMES, cache_dir=cache, scan=False)
    ds, _ = open_dataset(handle.path, chunks=None)
    reader = FrameReader(handle.path, ds, handle.layout, NAMES)
    requests = [(n, t) for t in (0, 3, 9, 3, 17) for n in NAMES]
    frames = reader.frames(requests)
    for (name, t), frame in zip(requests, frames, strict=True):
        expected = read_canonical(ds, path, handle.layout, {}, name, t)
        np.testing.assert_array_equal(frame.astype(np.float32), expected)
    assert reader.counters.calls == len(NAMES) and reader.counters.frames == len(requests)


def test_packed_shorts_with_fill_values_decode_like_xarray(tmp_path: Path, cache: Path) -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(280, 5, (12, 4, 6))
    values[2, 1, 1] = np.nan
    ds = xr.Dataset(
        {"temp": (("time", "lat", "lon"), values, {"units": "K"})},
        coords={
            "time": np.arange(12).astype("datetime64[h]").astype("datetime64[ns]"),
            "lat": np.arange(4.0),
            "lon": np.arange(6.0),
        },
    )
    encoding = {
        "temp": {"dtype": "int16", "scale_factor": 0.01, "add_offset": 280.0, "_FillValue": -32767, "chunks": (4, 4, 6)}
    }
    ds.to_zarr(tmp_path / "packed.zarr", encoding=encoding, consolidated=False)
    handle = open_store(tmp_path / "packed.zarr", ("temp",), cache_dir=cache, scan=False)
    opened, _ = open_dataset(handle.path, chunks=None)
    frames = FrameReader(handle.path, opened, handle.layout, ("temp",)).frames([("temp", t) for t in range(12)])
    np.testing.assert_allclose(np.stack(frames), opened["temp"].values, rtol=0, atol=1e-9)
    assert np.isnan(frames[2][1, 1]) and np.isfinite(frames[2]).sum() == 23
    np.testing.assert_allclose(np.stack(frames), values, atol=0.005 + 1e-9)
