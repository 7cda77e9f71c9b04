"""`aqnet-bench step`: one full training step of the configured Forecaster (forward + backward + AdamW step).

The config is composed exactly as `aqnet-train <overrides>` composes it (:func:`aqnet.config.compose`) and
validated; the model comes from :func:`aqnet.builders.build_model` (the run's task and model spec) and the
optimiser from :func:`aqnet.training.optim.optimization` (decay / no-decay / physics groups, layer decay), so the
benchmark follows the real run. No data store is read:
- inputs are random smooth fields in physical units (:mod:`aqnet.bench.inputs`) at ``--grid``;
- the normalisation statistics are fake: mean / std (and log1p mean / std) of that random batch itself, so the
  network sees O(1) values as it would with real statistics (mean 0 / std 1 would feed it e.g. 1e5 Pa);
- ``backbone.predict=field`` is forced, so no climatology is needed (the prior of ``anomaly`` is a lookup and an
  addition, negligible in time);
- the loss is the mean squared error against the inputs' target channels (normalised), not the task's masked,
  area-weighted loss (same cost order: one elementwise pass); gradients are clipped at
  ``trainer.gradient_clip_val`` as Lightning would.
``--compare-to-none`` builds the same model with ``physics_bias=none`` and times both alternately in one process.
On CUDA the FLOPs of one step are counted with ``torch.utils.flop_counter.FlopCounterMode`` (recomputation by the
chunked backend's checkpoints included) and MFU = achieved TFLOP/s / the GPU's peak (:data:`PEAK_TFLOPS`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any, cast

import torch
from omegaconf import DictConfig

from aqnet.bench.inputs import batch_statistics, physical_inputs
from aqnet.bench.measure import emit, environment, measure_interleaved, note, prepare_timing
from aqnet.config import compose, validate_config
from aqnet.errors import ConfigError
from aqnet.models.attention import resolve_backend
from aqnet.models.climax import Forecaster, count_parameters

FULL_GRID = (128, 256)  # the seeds' 0.25° China grid (patch 2: 8192 tokens)

# Dense (no sparsity) peak TFLOP/s by GPU and math mode; first matching name wins (so "H100 PCIe" before "H100").
PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "H200": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},
    "H100 PCIe": {"bf16": 756.0, "tf32": 378.0, "fp32": 51.2},
    "H100": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},
    "A100": {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5},
}


def compose_config(overrides: Sequence[str], device: torch.device) -> DictConfig:
    """The validated run config for ``overrides`` (``backbone.predict=field`` forced; see the module doc)."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from aqnet.cli.hydra_app import _one_line  # the one-line form aqnet-train gives Hydra's errors

    accelerator = "gpu" if device.type == "cuda" else "cpu"  # so flex is accepted exactly where it can train
    try:
        cfg = compose([f"trainer.accelerator={accelerator}", *overrides, "backbone.predict=field"])
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(f"config: {_one_line(err)}") from None
    validate_config(cfg)
    return cfg


def without_bias(overrides: Sequence[str]) -> list[str]:
    """``overrides`` with every physics_bias override replaced by ``physics_bias=none``."""
    kept = [o for o in overrides if not o.lstrip("+~").startswith("physics_bias")]
    return [*kept, "physics_bias=none"]


def build(cfg: DictConfig, inputs: torch.Tensor, grid: tuple[int, int], device: torch.device) -> Forecaster:
    """The run's model as :func:`aqnet.builders.build_model` builds it, for a stand-in of the data module that
    has the grid and the batch's own statistics (the model checks that its patch tiles the grid)."""
    from aqnet import builders

    p = cfg.backbone.patch_size
    if grid[0] % p or grid[1] % p:
        raise ConfigError(f"--grid {grid[0]}x{grid[1]}: backbone.patch_size={p} must divide both; choose another grid")
    fake = SimpleNamespace(
        grid_shape=grid, statistics=batch_statistics(inputs, list(cfg.data.inputs)), climatology=None
    )
    model = builders.build_model(cfg, builders.build_task(cfg), cast(Any, fake))
    return cast(Forecaster, model.to(device).train())


def training_step(cfg: DictConfig, model: Forecaster, inputs: torch.Tensor, precision: str) -> Callable[[], None]:
    """One optimiser step: zero grads, forward (autocast for bf16-mixed), MSE loss, backward, clip, optimiser."""
    from aqnet import builders
    from aqnet.training.optim import build_optimizer, optimization

    plan = optimization(cfg, builders.build_task(cfg), model)
    optimizer = build_optimizer(model, plan.optimizer, plan.layers)
    b, device = inputs.shape[0], inputs.device
    lead, hour, day = (torch.full((b,), value, device=device) for value in (24.0, 6.0, 100.0))
    target_index = [model.input_index(name) for name in model.target_names]
    targets = model.normalise_targets(inputs[:, target_index]).detach()
    clip = float(cfg.trainer.gradient_clip_val or 0.0)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
            predictions = model(inputs, lead, hour, day)
        loss = (predictions.float() - targets).square().mean()
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()

    return step


def attention_backend(model: Forecaster, n_tokens: int, device: torch.device) -> str:
    """The backend the biased blocks computed with (what ``auto`` decided on the first step)."""
    checks = getattr(model.physics_bias, "backend_checks", {})
    decided = checks.get((n_tokens, device.type))
    return decided[0] if decided else resolve_backend(model.blocks[0].attn.backend, n_tokens)


def peak_tflops(device: torch.device, precision: str) -> tuple[float | None, str]:
    """The GPU's peak for the math the step runs (bf16, TF32 or plain fp32 matmuls) and what it is."""
    tf32 = torch.backends.cuda.matmul.allow_tf32
    mode = "bf16" if precision == "bf16-mixed" else "tf32" if tf32 else "fp32"
    name = torch.cuda.get_device_name(device)
    for gpu, table in PEAK_TFLOPS.items():
        if gpu in name:
            return table[mode], f"{gpu} {mode} dense"
    return None, f"{name} {mode}: not in the table, pass --peak-tflops"


def count_flops(step: Callable[[], None]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def run(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    grid: tuple[int, int] = FULL_GRID if args.grid == "full" else args.grid
    prepare_timing(device)
    cfg = compose_config(args.overrides, device)
    inputs = physical_inputs(list(cfg.data.inputs), args.batch, grid).to(device)
    model = build(cfg, inputs, grid, device)
    n_tokens = model.token_grid[0] * model.token_grid[1]
    has_bias = model.physics_bias is not None
    record: dict[str, Any] = {
        "command": "step",
        **environment(device),
        "overrides": list(args.overrides),
        "grid": f"{grid[0]}x{grid[1]}",
        "n_tokens": n_tokens,
        "batch": args.batch,
        "precision": args.precision,
        "backbone": cfg.backbone.name,
        "params": count_parameters(model),
        "physics_bias": cfg.physics_bias.name,
        "bias_blocks": list(model.bias_blocks) if has_bias else [],
        "repeats": args.repeats,
    }
    steps = [training_step(cfg, model, inputs, args.precision)]
    if args.compare_to_none:
        plain_model = build(compose_config(without_bias(args.overrides), device), inputs, grid, device)
        steps.append(training_step(cfg, plain_model, inputs, args.precision))
    note(f"step {' '.join(args.overrides)} grid {record['grid']} ({n_tokens} tokens): timing {len(steps)} model(s)")
    results = measure_interleaved(steps, device, args.repeats)
    record["attention_backend"] = attention_backend(model, n_tokens, device) if has_bias else None
    record |= results[0].fields()
    if args.compare_to_none:
        record |= {
            "no_bias_median_s": results[1].median_s,
            "no_bias_min_s": min(results[1].times_s),
            "no_bias_peak_mb": results[1].fields()["peak_mb"],
            "ratio_to_no_bias": results[0].median_s / results[1].median_s,
        }
    if device.type == "cuda":
        flops = count_flops(steps[0])
        peak, source = (args.peak_tflops, "--peak-tflops") if args.peak_tflops else peak_tflops(device, args.precision)
        tflops = flops / results[0].median_s / 1e12
        record |= {"flops_per_step": flops, "tflops": tflops, "peak_tflops": peak, "peak_tflops_source": source}
        record["mfu"] = None if peak is None else tflops / peak
    versus = f", {record['ratio_to_no_bias']:.3f}x no bias" if args.compare_to_none else ""
    note(f"step: {record['median_s']:.4f} s{versus}")
    emit(record)


__all__ = ["FULL_GRID", "PEAK_TFLOPS", "run"]
