"""Per-case sums of the test epoch (one case = one init time × lead), so that aqnet-compare's case-level tests
apply to the exceedance scores (a ratio of sums: CSI = Σtp / Σ(tp + fp + fn), Brier = Σ brier / Σ weight).

``test_case_counts.csv``: init_time, lead_hours, source, then per channel ``{channel}_{tp|fp|fn|tn|brier|weight}``
(area-weighted with cos lat, the weights of :mod:`aqnet.tasks.exceedance.metrics`, so the sums over a lead's cases
are the epoch's). DDP-safe: the per-case rows are concatenated across ranks.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from aqnet.evaluation.files import COUNTS_FILE, write_case_counts
from aqnet.evaluation.weights import latitude_weights

FIELDS = ("tp", "fp", "fn", "tn", "brier", "weight")


class _SourceCases(Metric):
    full_state_update = False

    def __init__(self, lat: Tensor) -> None:
        super().__init__()
        self.register_buffer("_w", latitude_weights(lat, normalise=False)[:, None], persistent=False)
        for state in ("init_time", "lead_hours", "sums"):
            self.add_state(state, [], dist_reduce_fx="cat")

    def update(  # type: ignore[override]
        self, prob: Tensor, labels: Tensor, valid: Tensor, decision: Tensor, init_time: Tensor, lead_hours: Tensor
    ) -> None:
        valid = valid.bool() & torch.isfinite(prob)
        v = valid.float()
        p = torch.where(valid, prob.float(), torch.zeros_like(v))
        y = torch.where(valid, labels.float(), torch.zeros_like(v))
        warn = (p >= decision[:, :, None, None]).float() * v
        fields = (warn * y, warn * (1 - y), (1 - warn) * y * v, (1 - warn) * (1 - y) * v, (p - y).square() * v, v)
        w = self._w.to(v.dtype)
        self.sums.append(torch.stack([(f * w).sum(dim=(-2, -1)).double() for f in fields], dim=-1))  # [B, C, F]
        self.init_time.append(init_time.reshape(-1).to(torch.int64))
        self.lead_hours.append(lead_hours.reshape(-1).to(torch.float64))

    def compute(self) -> tuple[Tensor, Tensor, Tensor]:  # type: ignore[override]
        return dim_zero_cat(self.init_time), dim_zero_cat(self.lead_hours), dim_zero_cat(self.sums)


class CaseCounts(nn.Module):
    """The per-case sums of every source over one test epoch."""

    def __init__(self, channels: Sequence[str], lat: Tensor, sources: Sequence[str]) -> None:
        super().__init__()
        self.channels = tuple(channels)
        self.sources = nn.ModuleDict({s: _SourceCases(lat) for s in sources})

    def update(self, source: str, *args: Tensor) -> None:
        self.sources[source].update(*args)

    def frame(self) -> pd.DataFrame:
        """One row per case × source (synced across ranks: call on every rank)."""
        frames = []
        for source, metric in self.sources.items():
            if not metric.update_count:
                continue
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*compute.*before the ``update``.*")
                init, lead, sums = (x.detach().cpu().numpy() for x in metric.compute())
            columns = {f"{c}_{f}": sums[:, i, k] for i, c in enumerate(self.channels) for k, f in enumerate(FIELDS)}
            frames.append(
                pd.DataFrame(
                    {"init_time": pd.to_datetime(init, unit="s", utc=True), "lead_hours": lead, "source": source}
                    | columns
                )
            )
        if not frames:
            return pd.DataFrame(columns=["init_time", "lead_hours", "source"])
        return pd.concat(frames, ignore_index=True).sort_values(["source", "init_time", "lead_hours"], kind="stable")

    def write(self, frame: pd.DataFrame, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        return write_case_counts(frame, directory / COUNTS_FILE)

    def reset(self) -> None:
        for metric in self.sources.values():
            metric.reset()


def channel_columns(frame: pd.DataFrame) -> list[str]:
    """The channels a counts frame holds (``pm25_gt75`` from ``pm25_gt75_tp``)."""
    return [c[: -len("_tp")] for c in frame.columns if c.endswith("_tp")]


__all__ = ["COUNTS_FILE", "FIELDS", "CaseCounts", "channel_columns", "np"]
