"""ForecastModule end to end with Lightning, on stand-ins that satisfy the Batch and Forecaster contracts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import lightning as L
import numpy as np
import pytest
import torch
from rich.console import Console
from torch import Tensor, nn
from torch.utils.data import DataLoader

from aqnet.tasks.forecast.module import ForecastModule
from aqnet.tasks.forecast.report import format_results_table, results_rows
from aqnet.training.config import AdamWConfig, CosineConfig
from aqnet.training.optim import Optimization

IN_NAMES = ("u", "pm25", "o3")
OUT_NAMES = ("pm25", "o3")
LEADS = (12, 24)
H, W = 4, 6
LAT = torch.linspace(-30.0, 30.0, H)


@dataclass
class StandInBatch:
    inputs: Tensor
    input_valid: Tensor
    targets: Tensor
    target_valid: Tensor
    lead_hours: Tensor
    init_time: Tensor
    hour_of_day: Tensor
    day_of_year: Tensor
    input_names: tuple[str, ...]
    target_names: tuple[str, ...]

    def to(self, device) -> StandInBatch:
        return replace(
            self,
            **{
                f.name: getattr(self, f.name).to(device)
                for f in fields(self)
                if isinstance(getattr(self, f.name), Tensor)
            },
        )


class StandInNormaliser(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mean = {"u": 0.0, "pm25": 20.0, "o3": 60.0}
        self.std = {"u": 5.0, "pm25": 10.0, "o3": 20.0}

    def _stats(self, x: Tensor, names: Sequence[str]) -> tuple[Tensor, Tensor]:
        m = torch.tensor([self.mean[n] for n in names], dtype=x.dtype, device=x.device)[None, :, None, None]
        s = torch.tensor([self.std[n] for n in names], dtype=x.dtype, device=x.device)[None, :, None, None]
        return m, s

    def normalise(self, x: Tensor, names: Sequence[str]) -> Tensor:
        m, s = self._stats(x, names)
        return (x - m) / s

    def denormalise(self, x: Tensor, names: Sequence[str]) -> Tensor:
        m, s = self._stats(x, names)
        return x * s + m


def truth(inputs: Tensor, lead_hours: Tensor) -> Tensor:
    """The synthetic world: targets are a known function of the init state and the lead."""
    pm25, o3 = inputs[:, 1], inputs[:, 2]
    lead = lead_hours[:, None, None]
    return torch.stack([0.5 * pm25 + lead / 4, o3 + 0.1 * lead * inputs[:, 0]], dim=1)


class StandInModel(nn.Module):
    """What the module asks of a forecaster besides ``forward``: the target units in and out."""

    normaliser: StandInNormaliser

    def normalise_targets(self, targets: Tensor) -> Tensor:
        return self.normaliser.normalise(targets, OUT_NAMES)

    def denormalise_targets(self, predictions: Tensor) -> Tensor:
        return self.normaliser.denormalise(predictions, OUT_NAMES)


class Oracle(StandInModel):
    """Predicts the synthetic truth exactly (normalised units out, like a Forecaster)."""

    def __init__(self) -> None:
        super().__init__()
        self.normaliser = StandInNormaliser()
        self.dummy = nn.Parameter(torch.zeros(()))  # Lightning needs something to optimise

    def forward(self, inputs, lead_hours, hour_of_day, day_of_year) -> Tensor:
        return self.normaliser.normalise(truth(inputs, lead_hours), OUT_NAMES) + 0 * self.dummy


class TinyForecaster(StandInModel):
    """A learnable stand-in with a physics parameter named like the real one."""

    def __init__(self) -> None:
        super().__init__()
        self.normaliser = StandInNormaliser()
        self.conv = nn.Conv2d(len(IN_NAMES) + 1, len(OUT_NAMES), 1)
        self.norm = nn.GroupNorm(1, len(OUT_NAMES))
        self.blocks = nn.ModuleList([nn.Module()])
        self.blocks[0].alpha = nn.Parameter(torch.tensor(0.3))

    def forward(self, inputs, lead_hours, hour_of_day, day_of_year) -> Tensor:
        x = self.normaliser.normalise(inputs, IN_NAMES)
        lead = (lead_hours / 100)[:, None, None, None].expand(-1, 1, *x.shape[-2:])
        return self.norm(self.conv(torch.cat([x, lead], dim=1))) * self.blocks[0].alpha


def make_batches(n: int, batch_size: int, seed: int, leads: Sequence[int] = LEADS) -> list[StandInBatch]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        inputs = torch.stack(
            [
                torch.randn(batch_size, H, W, generator=g) * 5,
                20 + 10 * torch.rand(batch_size, H, W, generator=g),
                60 + 20 * torch.rand(batch_size, H, W, generator=g),
            ],
            dim=1,
        )
        lead = torch.tensor([leads[i % len(leads)] for i in range(batch_size)], dtype=torch.float32)
        valid = torch.rand(batch_size, len(OUT_NAMES), H, W, generator=g) > 0.2
        targets = torch.where(valid, truth(inputs, lead), torch.zeros(()))
        init = torch.randint(0, 365 * 86400, (batch_size,), generator=g) // 3600 * 3600
        out.append(
            StandInBatch(
                inputs,
                torch.ones_like(inputs, dtype=torch.bool),
                targets,
                valid,
                lead,
                init,
                ((init % 86400) / 3600).float(),
                torch.full((batch_size,), 100.0),
                IN_NAMES,
                OUT_NAMES,
            )
        )
    return out


def climatology() -> dict[str, np.ndarray]:
    return {"pm25": np.full((24, H, W), 15.0, np.float32), "o3": np.full((24, H, W), 65.0, np.float32)}


def loader(batches: list[StandInBatch]) -> DataLoader:
    return DataLoader(batches, batch_size=None, collate_fn=lambda b: b)  # items are already batches


def trainer(**kw) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kw,
    )


NAME = re.compile(r"^(val|test)/((persistence|climatology)_)?(rmse|mae|bias|nmb|nme|corr)_(pm25|o3)_(12|24)h$")
# sources (model, persistence, climatology) × scores × targets × leads, less the correlation of the constant
# climatology (undefined)
N_SCORES = 3 * 6 * 2 * 2 - 2 * 2


def test_fit_validate_test_logs_design_names():
    optimization = Optimization(AdamWConfig(lr=1e-2), CosineConfig(warmup_steps=1), max_steps=3)
    task = ForecastModule(TinyForecaster(), LAT, OUT_NAMES, LEADS, climatology(), optimization)
    tr = trainer(max_steps=3, limit_val_batches=2, num_sanity_val_steps=1)
    tr.fit(task, loader(make_batches(3, 4, 0)), loader(make_batches(2, 4, 1)))
    logged = set(tr.callback_metrics)
    assert {"train/loss", "physics/alpha", "val/loss"} <= logged
    val = {k for k in logged if k.startswith("val/") and k != "val/loss"}
    assert len(val) == 6 * 2 * 2 and all(NAME.match(k) for k in val)  # the model: 6 scores × 2 targets × 2 leads
    assert not any(k.startswith(("val/persistence_", "val/climatology_")) for k in val)  # references: test only
    (result,) = tr.test(task, loader(make_batches(2, 4, 2)))
    assert "test/loss" in result and "test/climatology_bias_o3_24h" in result
    assert set(task.final_metrics) == set(result)
    assert all(NAME.match(k) for k in result if k != "test/loss")
    assert len(result) == 1 + N_SCORES


def test_perfect_model_has_zero_rmse_and_beats_persistence():
    task = ForecastModule(Oracle(), LAT, OUT_NAMES, LEADS, climatology())
    # target order in the batch differs from the model's: the task must match them by name
    batches = [
        replace(b, targets=b.targets.flip(1), target_valid=b.target_valid.flip(1), target_names=OUT_NAMES[::-1])
        for b in make_batches(2, 4, 3)
    ]
    (result,) = trainer().test(task, loader(batches))
    for var in OUT_NAMES:
        for lead in LEADS:
            assert result[f"test/rmse_{var}_{lead}h"] == pytest.approx(0.0, abs=1e-4)
            assert result[f"test/persistence_rmse_{var}_{lead}h"] > 0.1
            assert result[f"test/climatology_rmse_{var}_{lead}h"] > 0.1
    assert result["test/loss"] == pytest.approx(0.0, abs=1e-8)
    rows = results_rows(task.final_metrics)
    assert [(r["var"], r["lead"]) for r in rows] == [("pm25", 12), ("pm25", 24), ("o3", 12), ("o3", 24)]
    assert all(r["skill_persistence"] == pytest.approx(1.0, abs=1e-4) for r in rows)
    console = Console(record=True, width=140)
    console.print(format_results_table(task.final_metrics))
    text = console.export_text()
    assert "pm25" in text and "24h" in text and "strongest reference" in text


def test_training_step_loss_uses_normalised_targets():
    model = TinyForecaster()
    task = ForecastModule(model, LAT, OUT_NAMES, LEADS)
    batch = make_batches(1, 2, 4)[0]
    pred = model(batch.inputs, batch.lead_hours, batch.hour_of_day, batch.day_of_year)
    norm_t = model.normaliser.normalise(batch.targets, OUT_NAMES)
    w = torch.cos(torch.deg2rad(LAT))[:, None]
    v = batch.target_valid
    expected = (w * v * (pred - norm_t) ** 2).sum() / (w * v).expand_as(v).sum()
    assert task.loss_fn(pred, norm_t, v).item() == pytest.approx(expected.item(), rel=1e-5)
    assert task.climatology is None and "climatology" not in task.val_metrics.metrics


def test_batch_missing_a_target_is_an_error():
    task = ForecastModule(Oracle(), LAT, OUT_NAMES, LEADS)
    batch = make_batches(1, 2, 5)[0]
    batch = replace(batch, targets=batch.targets[:, :1], target_valid=batch.target_valid[:, :1], target_names=("pm25",))
    with pytest.raises(ValueError, match="lacks target variables"):
        task.training_step(batch, 0)


def test_climatology_pixels_without_data_are_left_out_of_its_scores():
    clim = climatology()
    clim["o3"][:, 0, 0] = np.nan  # never valid in the training years
    task = ForecastModule(Oracle(), LAT, OUT_NAMES, LEADS, clim)
    (result,) = trainer().test(task, loader(make_batches(1, 4, 6)))
    assert all(np.isfinite(v) for v in result.values())
    assert len(result) == 1 + N_SCORES
