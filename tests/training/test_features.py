"""Training features from config, for every task: clipping by value, activation checkpointing, torch.compile,
ReduceLROnPlateau on the task's monitor, early stopping and extra callbacks, layer-wise LR decay on ClimaX."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor

from aqnet import builders
from aqnet.config import compose
from aqnet.models.climax import BackboneConfig, Forecaster
from aqnet.models.physics import TopoFlowBias
from aqnet.models.specs.climax import ClimaXModel
from aqnet.tasks.forecast import Forecast
from aqnet.tasks.forecast.module import ForecastModule
from aqnet.training.config import AdamWConfig, ReduceOnPlateauConfig, SGDConfig
from aqnet.training.optim import Optimization
from aqnet.variables import INPUT_VARIABLES, POLLUTANTS
from tests.tasks.forecast.test_module import LAT, LEADS, OUT_NAMES, Oracle, TinyForecaster, loader, make_batches

GRID = (8, 16)
SMALL = BackboneConfig(embed_dim=32, depth=2, decoder_depth=1, num_heads=4)


def _forecaster(**kw) -> Forecaster:
    return Forecaster(INPUT_VARIABLES, POLLUTANTS, GRID, 2, SMALL, physics_bias=TopoFlowBias(), seed=3, **kw)


def _inputs(seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = 50 * torch.rand(2, len(INPUT_VARIABLES), *GRID, generator=g)
    x[:, INPUT_VARIABLES.index("elevation")] = 3000 * torch.rand(2, *GRID, generator=g)
    return x, torch.tensor([12.0, 24.0]), torch.tensor([0.0, 6.0]), torch.tensor([1.0, 200.0])


def _loss_and_grads(model: Forecaster) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.train()
    model.zero_grad()
    loss = model(*_inputs()).square().mean()
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _saved_bytes(model: Forecaster) -> int:
    """Bytes of the tensors autograd keeps for the backward pass of one forward (the activation memory)."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(*_inputs()).square().mean()
    return total


def test_activation_checkpointing_gives_the_same_loss_and_gradients_with_less_activation_memory() -> None:
    plain, checkpointed = _forecaster(), _forecaster()
    checkpointed.checkpoint_blocks = True
    loss_a, grads_a = _loss_and_grads(plain)
    loss_b, grads_b = _loss_and_grads(checkpointed)
    assert torch.allclose(loss_a, loss_b, atol=1e-6)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        assert torch.allclose(grads_a[name], grads_b[name], atol=1e-6, rtol=1e-5), name
    assert _saved_bytes(checkpointed) < 0.7 * _saved_bytes(plain)


def test_climax_layers_for_layer_decay_embeddings_blocks_head() -> None:
    layer_of, n = ClimaXModel().layers(_forecaster())
    assert n == 3 and layer_of("blocks.1.attn.qkv.weight") == 2 and layer_of("head.0.weight") == 3
    assert layer_of("token_embeds.proj_weights") == 0 and layer_of("pos_embed") == 0
    assert layer_of("physics_bias.alpha") == 0  # the physics group keeps its own LR whatever its layer


def test_compile_runs_on_cpu_and_matches_eager() -> None:
    eager, compiled = _forecaster(), _forecaster()
    compiled.compile()  # in place: the state-dict keys stay those of the eager model
    assert list(compiled.state_dict()) == list(eager.state_dict())
    loss_a, grads_a = _loss_and_grads(eager)
    loss_b, grads_b = _loss_and_grads(compiled)
    assert torch.allclose(loss_a, loss_b, rtol=1e-4, atol=1e-5)
    assert all(torch.allclose(grads_a[n], grads_b[n], rtol=1e-3, atol=1e-5) for n in grads_a)


class _RecordingSGD(torch.optim.SGD):
    """Records the largest gradient element it is asked to apply."""

    largest: float = 0.0

    def step(self, closure=None):  # type: ignore[override]
        loss = super().step(closure)
        grads = [p.grad.abs().max() for g in self.param_groups for p in g["params"] if p.grad is not None]
        type(self).largest = max(type(self).largest, float(torch.stack(grads).max()))
        return loss


def test_clipping_by_value_bounds_every_gradient_element(tmp_path) -> None:
    cfg = compose(
        [
            "trainer.gradient_clip_algorithm=value",
            "trainer.gradient_clip_val=1e-4",
            "trainer.max_steps=3",
            "logger=none",
        ]
    )
    optimizer = SGDConfig(_target_=f"{__name__}._RecordingSGD", lr=0.1)  # _target_: the class it builds
    module = ForecastModule(TinyForecaster(), LAT, OUT_NAMES, LEADS, None, Optimization(optimizer, max_steps=3))
    trainer, _ = builders.build_trainer(cfg, tmp_path, None, Forecast())
    assert trainer.gradient_clip_algorithm == "value"
    trainer.fit(module, loader(make_batches(3, 4, 0)), loader(make_batches(1, 4, 1)))
    assert 0 < _RecordingSGD.largest <= 1e-4 + 1e-12


def test_reduce_on_plateau_lowers_the_lr_after_validations_without_improvement() -> None:
    # the oracle's validation loss never improves after the first validation: patience 1 halves the LR every
    # second validation after that
    schedule = ReduceOnPlateauConfig(factor_on_plateau=0.5, patience=1)
    optimization = Optimization(AdamWConfig(lr=1.0), schedule, max_steps=8, val_check_interval=1)
    module = ForecastModule(Oracle(), LAT, OUT_NAMES, LEADS, None, optimization)
    trainer = L.Trainer(
        max_steps=8,
        val_check_interval=1,
        check_val_every_n_epoch=None,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, loader(make_batches(8, 2, 0)), loader(make_batches(1, 2, 1)))
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.5**3)  # after validations 3, 5, 7


def test_early_stopping_and_checkpoints_follow_the_tasks_monitor_and_extra_callbacks_are_built(tmp_path) -> None:
    cfg = compose(
        [
            "trainer.early_stopping.patience=2",
            "trainer.early_stopping.min_delta=0.01",
            "+callbacks.lr._target_=lightning.pytorch.callbacks.LearningRateMonitor",
            "+callbacks.lr.logging_interval=step",
        ]
    )
    task = Forecast(monitor="val/rmse_pm25_24h")
    callbacks, checkpoints = builders.build_callbacks(cfg, tmp_path, task)
    (stopping,) = [c for c in callbacks if isinstance(c, EarlyStopping)]
    assert (stopping.monitor, stopping.mode, stopping.patience) == ("val/rmse_pm25_24h", "min", 2)
    assert stopping.min_delta == pytest.approx(-0.01)  # Lightning stores it signed by the mode
    assert (checkpoints.monitor, checkpoints.mode) == ("val/rmse_pm25_24h", "min")
    (monitor,) = [c for c in callbacks if isinstance(c, LearningRateMonitor)]
    assert monitor.logging_interval == "step"
    skill = Forecast(monitor="val/skill_persistence_pm25_24h")
    assert skill.mode == "max"
