"""Every variable with a physical range: a store range outside it (values in other units than the attribute says) is
refused in one line naming the variable and the range; a correct range passes. End to end through a store and
aqnet-train: tests/cli/test_train_errors.py."""

from __future__ import annotations

import pytest

from aqnet.config.validate import validate_physical_ranges
from aqnet.errors import ConfigError
from aqnet.variables import INPUT_VARIABLES, VARIABLES

# a typical correct range, and the same values in the units a store mislabels most often
CASES: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "u": ((-20.0, 25.0), (-200.0, 250.0)),  # knots x 10
    "v": ((-20.0, 25.0), (-200.0, 250.0)),
    "temp": ((240.0, 310.0), (-33.0, 37.0)),  # degC labelled K
    "rh": ((5.0, 100.0), (500.0, 10000.0)),  # per ten thousand
    "psfc": ((50000.0, 103000.0), (500.0, 1030.0)),  # hPa labelled Pa
    "pm25": ((0.0, 800.0), (0.0, 800000.0)),  # ng m-3 labelled µg m-3
    "pm10": ((0.0, 1500.0), (0.0, 1.5e6)),
    "so2": ((0.0, 300.0), (-300.0, 0.0)),  # a sign error
    "no2": ((0.0, 200.0), (0.0, 2e5 + 1)),
    "co": ((100.0, 8000.0), (1e5, 8e6)),
    "o3": ((0.0, 300.0), (0.0, 3e5)),
    "lat2d": ((18.0, 54.0), (-180.0, 180.0)),  # longitudes as latitudes
    "lon2d": ((73.0, 135.0), (400.0, 500.0)),
    "elevation": ((-150.0, 5200.0), (-0.15, 5.2)),  # km labelled m (the relief gives it away)
    "population": ((0.0, 40000.0), (0.0, 4e7)),  # per m2 x 1e3
}


def test_every_input_variable_has_a_range() -> None:
    assert {name for name in INPUT_VARIABLES if VARIABLES[name].plausible is None} == set()
    assert set(CASES) == set(INPUT_VARIABLES)


@pytest.mark.parametrize("name", list(CASES))
def test_correct_range_passes_and_mislabelled_is_named(name: str) -> None:
    good, bad = CASES[name]
    validate_physical_ranges({name: good})
    low, high = VARIABLES[name].plausible  # type: ignore[misc]
    with pytest.raises(ConfigError) as error:
        validate_physical_ranges({name: bad})
    message = str(error.value)
    assert f"variable {name!r}" in message and f"{low:g}..{high:g} {VARIABLES[name].units}" in message
    assert "\n" not in message


def test_unknown_and_unscanned_variables_are_left_alone() -> None:
    validate_physical_ranges({"elevation": None, "not_a_variable": (1e9, 1e10)})
