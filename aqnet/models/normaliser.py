"""Per-variable normalisation that lives inside the model.

Statistics are registered as buffers so every checkpoint carries the exact numbers the model was trained with
(docs/architecture.md: "Normalisation lives with the model"). Variables are addressed by name; tensors are
[B, V, H, W] in the order of the ``names`` argument.

Statistics format, per variable name::

    {"mean": m, "std": s}                                    # transform "none"
    {"mean": m, "std": s, "log1p_mean": lm, "log1p_std": ls} # transform "log1p" uses lm / ls

Also accepted (converted by :func:`per_variable_statistics`): ``log_mean`` / ``log_std`` as aliases of the log1p
keys, the column form ``{"mean": {name: m}, "std": {...}, "log_mean": {...}, "log_std": {...}}`` and any object
with such ``mean`` / ``std`` / ``log_mean`` / ``log_std`` dict attributes (aqnet.data.stats.Statistics).

With ``transform == "log1p"`` a value x becomes (log1p(x) - log1p_mean) / log1p_std; heavy-tailed fields
(pollutants, population) are clipped at 0 before log1p, so for them the round trip is exact for x >= 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

TRANSFORMS = ("none", "log1p")
# Below this a standard deviation is treated as zero: a constant field (a flat lat2d row, a masked region)
# would otherwise blow up to inf/NaN; dividing by 1 keeps it at (x - mean) = 0.
MIN_STD = 1e-6


class Normaliser(nn.Module):
    """Standardise (optionally after log1p) and invert it, per variable, by name.

    Without ``statistics`` the normaliser is the identity (mean 0, std 1): the numbers are expected to come from
    a checkpoint's state_dict, or a test does not need them.
    """

    def __init__(
        self,
        names: Sequence[str],
        statistics: Mapping[str, Any] | Any | None = None,
        transforms: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.names: tuple[str, ...] = tuple(names)
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"normaliser: duplicate variable names in {list(self.names)}")
        transforms = dict(transforms or {})
        unknown = sorted(set(transforms) - set(self.names))
        if unknown:
            raise ValueError(f"normaliser: transforms given for unknown variables {unknown}; known: {self.names}")
        for name, transform in transforms.items():
            if transform not in TRANSFORMS:
                raise ValueError(f"normaliser: transform {transform!r} for {name!r}; choose one of {TRANSFORMS}")
        self.transforms: tuple[str, ...] = tuple(transforms.get(n, "none") for n in self.names)
        self._index = {name: i for i, name in enumerate(self.names)}

        statistics = per_variable_statistics(statistics)
        means, stds = [], []
        for name, transform in zip(self.names, self.transforms, strict=True):
            mean, std = _pick_statistics(name, transform, statistics)
            means.append(mean)
            stds.append(std if std > MIN_STD else 1.0)
        self.register_buffer("mean", torch.tensor(means, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(stds, dtype=torch.float32))
        self.register_buffer("log1p", torch.tensor([t == "log1p" for t in self.transforms], dtype=torch.bool))

    def indices(self, names: Sequence[str]) -> list[int]:
        """Positions of ``names`` in this normaliser; a KeyError names the unknown variable."""
        try:
            return [self._index[n] for n in names]
        except KeyError as err:
            raise KeyError(f"normaliser has no variable {err.args[0]!r}; known: {list(self.names)}") from None

    def _stats(self, x: Tensor, names: Sequence[str]) -> tuple[Tensor, Tensor, Tensor]:
        if x.shape[1] != len(names):
            raise ValueError(f"normaliser: tensor has {x.shape[1]} variables but {len(names)} names were given")
        idx = torch.tensor(self.indices(names), device=self.mean.device)
        shape = (1, len(names), *([1] * (x.ndim - 2)))
        mean = self.mean[idx].to(x.dtype).view(shape)
        std = self.std[idx].to(x.dtype).view(shape)
        use_log = self.log1p[idx].view(shape)
        return mean, std, use_log

    def normalise(self, x: Tensor, names: Sequence[str]) -> Tensor:
        """Physical units -> normalised units; x is [B, V, ...] in the order of ``names``."""
        mean, std, use_log = self._stats(x, names)
        # log1p(max(x, 0)), as aqnet.data.stats computes the log statistics: a slightly negative concentration
        # from interpolation must not become NaN. Zeros in the unselected branch keep inf/NaN out of gradients.
        x = torch.where(use_log, torch.log1p(torch.where(use_log, x, 0.0).clamp(min=0.0)), x)
        return (x - mean) / std

    def denormalise(self, x: Tensor, names: Sequence[str]) -> Tensor:
        """Normalised units -> physical units; the exact inverse of :meth:`normalise`."""
        mean, std, use_log = self._stats(x, names)
        x = x * std + mean
        return torch.where(use_log, torch.expm1(torch.where(use_log, x, 0.0)), x)

    # The names and transforms travel with the buffers, so a checkpoint cannot silently be applied to a model
    # whose variables are in another order.
    def get_extra_state(self) -> dict[str, Any]:
        return {"names": list(self.names), "transforms": list(self.transforms)}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        names, transforms = tuple(state["names"]), tuple(state["transforms"])
        if names != self.names or transforms != self.transforms:
            raise ValueError(
                f"normaliser in the checkpoint is for variables {list(names)} with transforms "
                f"{list(transforms)}, but the model has {list(self.names)} with {list(self.transforms)}"
            )

    def extra_repr(self) -> str:
        logs = [n for n, t in zip(self.names, self.transforms, strict=True) if t == "log1p"]
        return f"variables={list(self.names)}, log1p={logs}"


_ALIASES = {"log_mean": "log1p_mean", "log_std": "log1p_std"}


def per_variable_statistics(statistics: Any) -> dict[str, dict[str, float]] | None:
    """Normalise the accepted statistics layouts to ``{name: {"mean", "std", ["log1p_mean", "log1p_std"]}}``."""
    if statistics is None:
        return None
    if not isinstance(statistics, Mapping):  # an object with dict attributes, e.g. data.stats.Statistics
        statistics = {
            k: getattr(statistics, k) for k in ("mean", "std", "log_mean", "log_std") if hasattr(statistics, k)
        }
    if isinstance(statistics.get("mean"), Mapping):  # column form: statistic -> name -> value
        rows: dict[str, dict[str, float]] = {}
        for key, column in statistics.items():
            if isinstance(column, Mapping):
                for name, value in column.items():
                    rows.setdefault(name, {})[_ALIASES.get(key, key)] = float(value)
        return rows
    return {name: {_ALIASES.get(k, k): float(v) for k, v in row.items()} for name, row in statistics.items()}


def _pick_statistics(
    name: str, transform: str, statistics: Mapping[str, Mapping[str, float]] | None
) -> tuple[float, float]:
    if statistics is None:
        return 0.0, 1.0
    if name not in statistics:
        raise ValueError(f"normaliser: no statistics for variable {name!r}; have {sorted(statistics)}")
    stats = statistics[name]
    keys = ("log1p_mean", "log1p_std") if transform == "log1p" else ("mean", "std")
    missing = [k for k in keys if k not in stats]
    if missing:
        raise ValueError(
            f"normaliser: statistics for {name!r} lack {missing} (transform {transform!r}); have {sorted(stats)}"
        )
    return float(stats[keys[0]]), float(stats[keys[1]])
