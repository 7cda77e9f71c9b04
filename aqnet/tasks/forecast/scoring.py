"""ForecastModule's test loop over any split, with the same scores inside named region masks and by season.

Region metrics are plain :class:`ForecastMetrics` updated with ``valid & region``, so they are pooled exactly like
the grid's (area-weighted over valid pixels of all samples) and named ``{split}/{region}/...`` by the same code;
season metrics (DJF, MAM, JJA, SON of the valid time, when the split spans more than one) likewise, named
``{split}/{season}/...``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from aqnet.tasks.forecast.metrics import ForecastMetrics
from aqnet.tasks.forecast.module import ForecastModule


class RegionalMetrics(ForecastMetrics):
    """ForecastMetrics over the grid, plus the same scores on the valid pixels inside each region mask."""

    def __init__(
        self,
        names: Sequence[str],
        lead_hours: Sequence[float],
        lat: Tensor,
        baselines: Sequence[str],
        regions: Mapping[str, Tensor],
    ) -> None:
        super().__init__(names, lead_hours, lat, baselines)
        self.region_names = tuple(regions)
        for i, mask in enumerate(regions.values()):
            self.register_buffer(f"_region_{i}", mask.bool(), persistent=False)
        self.regions = nn.ModuleDict({r: ForecastMetrics(names, lead_hours, lat, baselines) for r in regions})

    def update(self, source: str, pred: Tensor, target: Tensor, valid: Tensor, lead_hours: Tensor) -> None:
        super().update(source, pred, target, valid, lead_hours)
        for i, name in enumerate(self.region_names):
            inside = getattr(self, f"_region_{i}")
            self.regions[name].update(source, pred, target, valid & inside, lead_hours)

    def compute(self, split: str) -> dict[str, float]:
        out = super().compute(split)
        for name, metrics in self.regions.items():
            out.update(metrics.compute(f"{split}/{name}"))
        return out

    def reset(self) -> None:
        super().reset()
        for metrics in self.regions.values():
            metrics.reset()


SEASONS = ("djf", "mam", "jja", "son")


def season_index(seconds: np.ndarray) -> np.ndarray:
    """0..3 (DJF, MAM, JJA, SON) of times in seconds since the epoch."""
    month = np.asarray(seconds, dtype=np.int64).astype("datetime64[s]").astype("datetime64[M]").astype(np.int64) % 12
    return ((month + 1) % 12) // 3


class EvaluationModule(ForecastModule):
    """ForecastModule whose test loop scores any split (named ``split``) with region metrics too."""

    def __init__(
        self,
        model: nn.Module,
        lat: Tensor,
        lon: Tensor,
        target_names: Sequence[str],
        lead_hours: Sequence[float],
        climatology: Any,
        split: str,
        regions: Mapping[str, Tensor],
        references: Mapping[str, nn.Module] | None = None,
        daily_days: Mapping[tuple[float, float], int] | None = None,
        utc_offset_hours: float = 8.0,
        seasons: Sequence[str] | None = None,
    ) -> None:
        super().__init__(
            model,
            lat,
            target_names,
            lead_hours,
            climatology,
            lon=lon,
            references=references,
            daily_days=daily_days,
            utc_offset_hours=utc_offset_hours,
        )
        self.split = split
        baselines = self.test_metrics.sources[1:]
        self.test_metrics = RegionalMetrics(self.target_names, self.lead_hours, lat, baselines, regions)
        self.results: dict[str, float] = {}
        present = list(seasons or ())
        self.seasons = present if len(present) > 1 else []  # one season: the grid's scores already are its own
        self.season_metrics = nn.ModuleDict(
            {name: ForecastMetrics(self.target_names, self.lead_hours, lat, baselines) for name in self.seasons}
        )

    def _score(self, metrics, split, batch, source, pred, target, valid) -> None:  # type: ignore[no-untyped-def]
        super()._score(metrics, split, batch, source, pred, target, valid)
        if not self.seasons:
            return
        lead_s = (batch.lead_hours.double() * 3600).round().long().cpu()
        season = torch.as_tensor(season_index((batch.init_time.cpu().long() + lead_s).numpy()), device=valid.device)
        for name in self.seasons:
            chosen = (season == SEASONS.index(name))[:, None, None, None]
            self.season_metrics[name].update(source, pred, target, valid & chosen, batch.lead_hours)

    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, self.test_metrics, self.split)

    def on_test_epoch_end(self) -> None:
        self.results = self.test_metrics.compute(self.split) | self._daily_scores(self.split)
        for name, season in self.season_metrics.items():
            self.results |= {k: v for k, v in season.compute(f"{self.split}/{name}").items() if not k.endswith("/loss")}
            season.reset()
        self.test_metrics.reset()
