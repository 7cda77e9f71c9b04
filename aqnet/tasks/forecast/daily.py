"""Scores of daily statistics, the ones air-quality warnings and standards are written in: exceedance of the
daily-mean PM2.5 (CSI, POD, FAR, ETS above 75 and 150 µg m⁻³) and the RMSE of the daily maximum 8-hour mean O3
(MDA8), for the model and every reference, per lead.

A *day* is a local calendar day (UTC + ``utc_offset_hours``; China Standard Time by default) of the valid time; the
daily statistic of a forecast at lead L is taken over the forecasts *valid* on that day at lead L (from successive
init times), the same statistic of the observations over the same times. A day is scored once all of its samples
have been seen (the split's index says how many), on the pixels valid at every one of them; under DDP the
evaluation sampler keeps each (lead, day) on one rank (:class:`aqnet.data.samples.ShardSampler` with groups), so a
rank finishes its own days. MDA8 takes the running means over the 8-hour windows inside the day that start at a
sample's hour (windows ending 08:00 … 24:00; with a coarser store step than hourly, the mean of the samples inside
each window: an approximation of the hourly MDA8).

Contingency counts are area-weighted (cos latitude), like every other score; per-day counts are kept for the case
files, so day-level tests can be made on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from aqnet.evaluation.weights import latitude_weights
from aqnet.tasks.forecast.metrics import format_lead

THRESHOLDS: dict[str, tuple[float, ...]] = {"pm25": (75.0, 150.0)}  # µg m-3: China's 24-h Grade II limit, heavy
MDA8 = "o3"
CATEGORIES = ("tp", "fp", "fn", "tn")
EXCEEDANCE_SCORES = ("csi", "pod", "far", "ets")
SECONDS_PER_DAY = 86_400


def local_days(valid_seconds: np.ndarray, utc_offset_hours: float) -> np.ndarray:
    """Local calendar day (days since the epoch) of each valid time."""
    return np.floor((np.asarray(valid_seconds, dtype=np.float64) + utc_offset_hours * 3600) / SECONDS_PER_DAY)


def exceedance_name(split: str, score: str, var: str, threshold: float, lead: float, source: str = "model") -> str:
    prefix = "" if source == "model" else f"{source}_"
    return f"{split}/{prefix}{score}_{var}_daily_gt{threshold:g}_{format_lead(lead)}h"


def mda8_name(split: str, lead: float, source: str = "model") -> str:
    prefix = "" if source == "model" else f"{source}_"
    return f"{split}/{prefix}mda8_rmse_{MDA8}_{format_lead(lead)}h"


def contingency_scores(tp: float, fp: float, fn: float, tn: float) -> dict[str, float]:
    """CSI, POD, FAR and ETS from (weighted) counts; NaN where a score is undefined (no event forecast or seen)."""
    nan = float("nan")
    total = tp + fp + fn + tn
    hits_random = (tp + fp) * (tp + fn) / total if total else nan
    return {
        "csi": tp / (tp + fp + fn) if tp + fp + fn else nan,
        "pod": tp / (tp + fn) if tp + fn else nan,
        "far": fp / (tp + fp) if tp + fp else nan,
        "ets": (tp - hits_random) / (tp + fp + fn - hits_random) if tp + fp + fn - hits_random else nan,
    }


@dataclass
class _OpenDay:
    expected: int
    seen: int = 0
    hours: list[float] = field(default_factory=list)
    fields: list[Tensor] = field(default_factory=list)  # per sample: [S + 1, V, H, W] (sources, then truth)
    valid: list[Tensor] = field(default_factory=list)  # per sample: [S + 1, V, H, W] bool


class DailyScores(Metric):
    """Daily-statistic scores of one split (module docstring). ``expected`` maps (lead, local day) to the number
    of samples the split holds for it."""

    full_state_update = False
    is_differentiable = False

    def __init__(
        self,
        names: Sequence[str],
        lead_hours: Sequence[float],
        lat: Tensor,
        sources: Sequence[str],
        expected: Mapping[tuple[float, float], int],
        utc_offset_hours: float = 8.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.names, self.sources = tuple(names), tuple(sources)
        self.lead_hours = tuple(float(x) for x in lead_hours)
        self.variables = tuple(v for v in (*THRESHOLDS, MDA8) if v in self.names)
        self.thresholds = [(v, t) for v in THRESHOLDS if v in self.names for t in THRESHOLDS[v]]
        self.expected = {(float(k[0]), float(k[1])): int(n) for k, n in expected.items()}
        self.utc_offset_hours = float(utc_offset_hours)
        self.register_buffer("_w", latitude_weights(lat, normalise=False)[:, None].double(), persistent=False)
        shape = (len(self.sources), len(self.lead_hours))
        self.add_state("counts", torch.zeros((*shape, len(self.thresholds), 4), dtype=torch.float64), "sum")
        self.add_state("mda8", torch.zeros((*shape, 2), dtype=torch.float64), "sum")  # Σ w·err², Σ w
        for state in ("day_lead", "day_counts", "day_mda8"):
            self.add_state(state, [], dist_reduce_fx="cat")
        self._open: dict[tuple[float, float], _OpenDay] = {}

    @property
    def active(self) -> bool:
        return bool(self.variables)

    def update(
        self,
        preds: Mapping[str, Tensor],
        valids: Mapping[str, Tensor],
        target: Tensor,
        valid: Tensor,
        init_time: Tensor,
        lead_hours: Tensor,
    ) -> None:
        """``preds`` / ``valids``: per source [B, V, H, W] (V in ``names`` order), ``target``/``valid`` likewise."""
        if not self.active:
            return
        keep = [self.names.index(v) for v in self.variables]
        stacked = torch.stack([*(preds[s] for s in self.sources), target], dim=1)[:, :, keep].double()
        ok = torch.stack([*(valids[s] for s in self.sources), valid], dim=1)[:, :, keep]
        lead_s = (lead_hours.double() * 3600).round().long()
        valid_s = (init_time.long() + lead_s.to(init_time.device)).cpu().numpy()
        days = local_days(valid_s, self.utc_offset_hours)
        hours = ((valid_s + self.utc_offset_hours * 3600) % SECONDS_PER_DAY) / 3600.0
        for b in range(stacked.shape[0]):
            key = (float(lead_hours[b]), float(days[b]))
            if key not in self.expected:
                continue
            day = self._open.setdefault(key, _OpenDay(self.expected[key]))
            day.seen += 1
            day.hours.append(float(hours[b]))
            day.fields.append(stacked[b])
            day.valid.append(ok[b])
            if day.seen == day.expected:
                self._finish(key, self._open.pop(key))

    def _finish(self, key: tuple[float, float], day: _OpenDay) -> None:
        fields, valid = torch.stack(day.fields), torch.stack(day.valid)  # [n, S + 1, V', H, W]
        complete = valid.all(dim=0)  # [S + 1, V', H, W]: valid at every sample of the day
        scored = complete[:-1] & complete[-1:]  # a source and the truth both complete
        w = self._w.to(fields.device)
        lead = self.lead_hours.index(key[0])
        counts = torch.zeros((len(self.sources), len(self.thresholds), 4), dtype=torch.float64, device=fields.device)
        mean = torch.where(valid, fields, 0.0).sum(dim=0) / len(day.fields)  # [S + 1, V', H, W]
        for t, (var, threshold) in enumerate(self.thresholds):
            v = self.variables.index(var)
            forecast, observed = mean[:-1, v] > threshold, mean[-1:, v] > threshold
            for c, cell in enumerate((forecast & observed, forecast & ~observed, ~forecast & observed, None)):
                cell = ~forecast & ~observed if cell is None else cell
                counts[:, t, c] = ((cell & scored[:, v]) * w).sum(dim=(-2, -1))
        mda8 = torch.zeros((len(self.sources), 2), dtype=torch.float64, device=fields.device)
        if MDA8 in self.variables:
            v = self.variables.index(MDA8)
            peak = self._mda8(fields[:, :, v], torch.tensor(day.hours))  # [S + 1, H, W]
            err = torch.where(scored[:, v], (peak[:-1] - peak[-1:]).square(), 0.0)
            mda8[:, 0], mda8[:, 1] = (err * w).sum(dim=(-2, -1)), (scored[:, v] * w).sum(dim=(-2, -1))
        self.counts[:, lead] += counts
        self.mda8[:, lead] += mda8
        self.day_lead.append(torch.tensor([[key[1], key[0]]], dtype=torch.float64, device=fields.device))
        self.day_counts.append(counts[None])
        self.day_mda8.append(mda8[None])

    @staticmethod
    def _mda8(values: Tensor, hours: Tensor) -> Tensor:
        """[n, S + 1, H, W] samples at local ``hours`` → the largest 8-hour running mean of the day, over the
        windows inside the day (ending 08:00 … 24:00, as China's standard takes them)."""
        starts = hours.unique()
        starts = starts[starts + 8 <= 24] if bool((starts + 8 <= 24).any()) else starts
        inside = (hours[None, :] >= starts[:, None]) & (hours[None, :] < starts[:, None] + 8)  # [windows, n]
        weight = inside.to(values.dtype) / inside.sum(dim=1, keepdim=True).to(values.dtype)
        means = torch.einsum("kn,nshw->kshw", weight.to(values.device), values)
        return means.max(dim=0).values

    def compute(self) -> dict[str, Tensor]:
        """The states, summed (totals) and concatenated (days) across ranks."""
        days = {}
        for state in ("day_lead", "day_counts", "day_mda8"):
            value = getattr(self, state)
            days[state] = dim_zero_cat(value) if isinstance(value, Tensor) or value else None
        return {"counts": self.counts, "mda8": self.mda8, **days}

    def scores(self, split: str) -> dict[str, float]:
        """``{split}/{csi|pod|far|ets}_pm25_daily_gt{75|150}_{lead}h`` and ``{split}/mda8_rmse_o3_{lead}h`` (with the
        reference's name after the split for the references)."""
        state = self.compute()
        out: dict[str, float] = {}
        counts, mda8 = state["counts"].cpu().numpy(), state["mda8"].cpu().numpy()
        for s, source in enumerate(self.sources):
            for j, lead in enumerate(self.lead_hours):
                for t, (var, threshold) in enumerate(self.thresholds):
                    for score, value in contingency_scores(*counts[s, j, t]).items():
                        if np.isfinite(value):
                            out[exceedance_name(split, score, var, threshold, lead, source)] = float(value)
                if MDA8 in self.variables and mda8[s, j, 1] > 0:
                    out[mda8_name(split, lead, source)] = float(np.sqrt(mda8[s, j, 0] / mda8[s, j, 1]))
        return out

    def frame(self) -> pd.DataFrame:
        """One row per scored (day, lead, source): the day's weighted contingency counts and MDA8 sums."""
        state = self.compute()
        if state["day_lead"] is None:
            return pd.DataFrame()
        day_lead = state["day_lead"].cpu().numpy()
        counts, mda8 = state["day_counts"].cpu().numpy(), state["day_mda8"].cpu().numpy()
        rows = []
        for k, (day, lead) in enumerate(day_lead):
            for s, source in enumerate(self.sources):
                row = {"day": pd.Timestamp(day * SECONDS_PER_DAY, unit="s").date(), "lead_hours": lead}
                row |= {"source": source, "mda8_sse": mda8[k, s, 0], "mda8_weight": mda8[k, s, 1]}
                for t, (var, threshold) in enumerate(self.thresholds):
                    for c, cat in enumerate(CATEGORIES):
                        row[f"{var}_gt{threshold:g}_{cat}"] = counts[k, s, t, c]
                rows.append(row)
        return pd.DataFrame(rows).sort_values(["day", "lead_hours", "source"], kind="stable").reset_index(drop=True)

    def reset(self) -> None:
        super().reset()
        self._open = {}


def expected_days(init_seconds: np.ndarray, lead_hours: np.ndarray, utc_offset_hours: float) -> dict:
    """(lead, local day) → number of samples of a split's index valid on that day at that lead."""
    valid = np.asarray(init_seconds, dtype=np.int64) + np.asarray(lead_hours, dtype=np.int64) * 3600
    keys = zip(np.asarray(lead_hours, dtype=np.float64), local_days(valid, utc_offset_hours), strict=True)
    out: dict[tuple[float, float], int] = {}
    for key in keys:
        out[key] = out.get(key, 0) + 1
    return out
