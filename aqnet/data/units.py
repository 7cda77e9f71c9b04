"""Tolerant parsing of CF unit strings and affine conversion to aqnet's canonical units.

A unit string is parsed into a scale factor (to SI-like base units) and a vector of dimension exponents; two units
convert when their dimensions agree. Mass/mass or mole/mole ratios (``kg kg-1``, ``ppb``) are flagged as *ratios*:
they are dimensionless on paper but not convertible to a concentration or a percentage without extra fields, so
they are rejected rather than silently scaled.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from aqnet.errors import DataError
from aqnet.variables import VARIABLES

__all__ = ["Affine", "ParsedUnit", "parse_unit", "conversion"]


@dataclass(frozen=True)
class Affine:
    """``canonical = value * scale + offset``."""

    scale: float = 1.0
    offset: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self.scale == 1.0 and self.offset == 0.0

    def __call__(self, value):  # works on numpy, dask and torch alike
        return value if self.is_identity else value * self.scale + self.offset


@dataclass(frozen=True)
class ParsedUnit:
    scale: float
    dims: tuple[tuple[str, int], ...]  # sorted (dimension, exponent), zero exponents dropped
    offset: float = 0.0  # only for plain temperatures (degC)
    ratio: bool = False  # a dimension cancelled out (kg kg-1, mol mol-1, ppb)


# symbol -> (scale to base, dimension or None for dimensionless, accepts SI prefix)
_UNITS: dict[str, tuple[float, str | None, bool]] = {
    "g": (1e-3, "mass", True),
    "gram": (1e-3, "mass", True),
    "grams": (1e-3, "mass", True),
    "t": (1e3, "mass", False),
    "m": (1.0, "length", True),
    "meter": (1.0, "length", True),
    "metre": (1.0, "length", True),
    "meters": (1.0, "length", True),
    "metres": (1.0, "length", True),
    "s": (1.0, "time", True),
    "sec": (1.0, "time", False),
    "second": (1.0, "time", False),
    "seconds": (1.0, "time", False),
    "min": (60.0, "time", False),
    "minute": (60.0, "time", False),
    "h": (3600.0, "time", False),
    "hr": (3600.0, "time", False),
    "hour": (3600.0, "time", False),
    "hours": (3600.0, "time", False),
    "day": (86400.0, "time", False),
    "d": (86400.0, "time", False),
    "pa": (1.0, "pressure", True),
    "pascal": (1.0, "pressure", True),
    "bar": (1e5, "pressure", True),
    "atm": (101325.0, "pressure", False),
    "k": (1.0, "temperature", False),
    "kelvin": (1.0, "temperature", False),
    "%": (1e-2, None, False),
    "percent": (1e-2, None, False),
    "1": (1.0, None, False),
    "fraction": (1.0, None, False),
    "dimensionless": (1.0, None, False),
    # counts of people are dimensionless: "persons km-2" == "km-2"
    "person": (1.0, None, False),
    "persons": (1.0, None, False),
    "people": (1.0, None, False),
    "inhabitants": (1.0, None, False),
    "capita": (1.0, None, False),
    "count": (1.0, None, False),
    "mol": (1.0, "amount", True),
}
_TEMPERATURE_OFFSETS = {
    "degc": 273.15,
    "deg_c": 273.15,
    "celsius": 273.15,
    "degree_c": 273.15,
    "degrees_c": 273.15,
    "°c": 273.15,
}
_ANGLES = {
    "degrees_north",
    "degree_north",
    "degrees_n",
    "degree_n",
    "degn",
    "degreesn",
    "degrees_east",
    "degree_east",
    "degrees_e",
    "degree_e",
    "dege",
    "degreese",
    "degrees",
    "degree",
    "deg",
    "°",
}
_RATIOS = {"ppb": 1e-9, "ppbv": 1e-9, "ppm": 1e-6, "ppmv": 1e-6, "ppt": 1e-12, "pptv": 1e-12}
_PREFIXES = {"u": 1e-6, "n": 1e-9, "p": 1e-12, "m": 1e-3, "c": 1e-2, "d": 1e-1, "k": 1e3, "h": 1e2, "M": 1e6, "G": 1e9}
_TOKEN = re.compile(r"^([A-Za-z_%°]+|1)(-?\d+)?$")


def _normalise(text: str) -> str:
    text = text.strip().replace("µ", "u").replace("μ", "u").replace("**", "").replace("^", "")
    text = text.replace("·", " ").replace("*", " ").replace("(", " ").replace(")", " ")
    return re.sub(r"\s+", " ", text)


def _lookup(symbol: str) -> tuple[float, str | None]:
    low = symbol.lower()
    if low in _UNITS:
        scale, dim, _ = _UNITS[low]
        return scale, dim
    if symbol[:1] in _PREFIXES and len(symbol) > 1:  # prefix is case-sensitive (m vs M)
        rest = symbol[1:].lower()
        if rest in _UNITS and _UNITS[rest][2]:
            scale, dim, _ = _UNITS[rest]
            return _PREFIXES[symbol[0]] * scale, dim
    raise ValueError(symbol)


def parse_unit(text: str) -> ParsedUnit:
    """Parse a CF-ish unit string; raises ValueError on anything not understood."""
    norm = _normalise(text)
    low = norm.lower()
    if low in _TEMPERATURE_OFFSETS:
        return ParsedUnit(1.0, (("temperature", 1),), offset=_TEMPERATURE_OFFSETS[low])
    if low in _ANGLES:
        return ParsedUnit(1.0, (("angle", 1),))
    if low in _RATIOS:
        return ParsedUnit(_RATIOS[low], (), ratio=True)
    if not norm:
        raise ValueError(text)
    scale = 1.0
    dims: Counter[str] = Counter()
    touched: set[str] = set()
    for part_index, part in enumerate(norm.split("/")):
        if part_index > 1:
            raise ValueError(text)  # "a/b/c" is ambiguous
        sign = -1 if part_index == 1 else 1
        for token in part.replace(".", " ").split():
            match = _TOKEN.match(token)
            if not match:
                raise ValueError(token)
            symbol, power = match.group(1), int(match.group(2) or 1)
            factor, dim = _lookup(symbol)
            scale *= factor ** (sign * power)
            if dim is not None:
                dims[dim] += sign * power
                touched.add(dim)
    ratio = any(dims[d] == 0 for d in touched)
    return ParsedUnit(scale, tuple(sorted((d, e) for d, e in dims.items() if e != 0)), ratio=ratio)


def conversion(variable: str, unit: str | None, store: object = "<store>") -> Affine:
    """The affine map from ``unit`` to ``variable``'s canonical unit; DataError if impossible or missing."""
    expected = VARIABLES[variable].units
    if unit is None or not str(unit).strip():
        raise DataError(
            f"variable {variable!r} in store {store} has no 'units' attribute; "
            f"set it (expected {expected!r} or a convertible unit)"
        )
    try:
        src, dst = parse_unit(str(unit)), parse_unit(expected)
    except ValueError:
        raise DataError(
            f"variable {variable!r} in store {store} has unknown unit {unit!r}; "
            f"expected {expected!r} or a convertible unit"
        ) from None
    if src.dims != dst.dims or src.ratio != dst.ratio:
        raise DataError(
            f"variable {variable!r} in store {store} has unit {unit!r}, which cannot be converted "
            f"to {expected!r}; convert it before use"
        )
    scale = src.scale / dst.scale
    # canonical = ((v*s_src + off_src) - off_dst) / s_dst
    offset = (src.offset - dst.offset) / dst.scale
    # round away float noise from prefix products (1e-6/1e-9 -> 999.9999999)
    return Affine(float(f"{scale:.12g}"), float(f"{offset:.12g}"))
