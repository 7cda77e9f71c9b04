from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aqnet.data.store import open_store
from aqnet.data.units import conversion
from aqnet.errors import DataError


@pytest.mark.parametrize(
    ("variable", "unit", "scale", "offset"),
    [
        ("pm25", "µg m-3", 1, 0),
        ("pm25", "μg m-3", 1, 0),
        ("pm25", "ug/m3", 1, 0),
        ("pm25", "ug m**-3", 1, 0),
        ("pm25", "ug m^-3", 1, 0),
        ("co", "mg m-3", 1e3, 0),
        ("co", "mg/m3", 1e3, 0),
        ("pm10", "kg m-3", 1e9, 0),
        ("u", "m/s", 1, 0),
        ("v", "m s**-1", 1, 0),
        ("u", "m s-1", 1, 0),
        ("temp", "degC", 1, 273.15),
        ("temp", "K", 1, 0),
        ("psfc", "hPa", 100, 0),
        ("psfc", "Pa", 1, 0),
        ("psfc", "kPa", 1000, 0),
        ("rh", "%", 1, 0),
        ("rh", "fraction", 100, 0),
        ("rh", "1", 100, 0),
        ("elevation", "km", 1000, 0),
        ("elevation", "m", 1, 0),
        ("population", "persons km-2", 1, 0),
        ("population", "km-2", 1, 0),
        ("population", "m-2", 1e6, 0),
        ("lat2d", "degrees_north", 1, 0),
        ("lon2d", "degrees_east", 1, 0),
        ("lat2d", "degrees", 1, 0),
    ],
)
def test_conversion(variable: str, unit: str, scale: float, offset: float) -> None:
    aff = conversion(variable, unit)
    assert aff.scale == pytest.approx(scale, rel=1e-12)
    assert aff.offset == pytest.approx(offset, abs=1e-9)


def test_degc_applies_offset() -> None:
    assert conversion("temp", "degC")(np.array([0.0, 25.0])) == pytest.approx([273.15, 298.15])


@pytest.mark.parametrize(
    ("variable", "unit"),
    [("co", "kg kg-1"), ("rh", "kg kg-1"), ("pm25", "ppb"), ("u", "furlongs"), ("temp", "m"), ("psfc", "K")],
)
def test_unconvertible_unit_names_variable_unit_store_expected(variable: str, unit: str) -> None:
    with pytest.raises(DataError) as info:
        conversion(variable, unit, store="/some/store.zarr")
    message = str(info.value)
    for part in (variable, unit, "/some/store.zarr"):
        assert part in message
    assert "\n" not in message


def test_missing_units_is_an_error() -> None:
    with pytest.raises(DataError, match="no 'units' attribute"):
        conversion("pm25", None, store="s")


def test_store_with_co_in_mg_loads_as_ug(store_maker, cache: Path) -> None:
    ug = open_store(store_maker("ug.zarr"), ["co"], cache_dir=cache)
    mg = open_store(store_maker("mg.zarr", co_mg=True), ["co"], cache_dir=cache)
    assert mg.units["co"] == "mg m-3"
    a, b = ug.canonical("co").values, mg.canonical("co").values
    np.testing.assert_allclose(b, a, rtol=1e-6)
    assert np.nanmedian(b) > 100  # µg m-3 magnitudes, not mg


def test_store_with_unconvertible_unit_fails_at_open(store_maker, cache: Path) -> None:
    path = store_maker(units={"co": "kg kg-1"})
    with pytest.raises(DataError, match=r"'co'.*kg kg-1.*µg m-3"):
        open_store(path, ["co", "pm25"], cache_dir=cache)
