"""ForecastModule's test loop over any split, with the same scores inside named region masks.

Region metrics are plain :class:`ForecastMetrics` updated with ``valid & region``, so they are pooled exactly like
the grid's (area-weighted over valid pixels of all samples) and named ``{split}/{region}/...`` by the same code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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

    def test_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self._evaluate(batch, self.test_metrics, self.split)

    def on_test_epoch_end(self) -> None:
        self.results = self.test_metrics.compute(self.split) | self._daily_scores(self.split)
        self.test_metrics.reset()
