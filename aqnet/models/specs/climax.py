"""``model=climax``: the ClimaX-style vision transformer (:class:`aqnet.models.climax.Forecaster`) and its physics,
described by the ``backbone``, ``embed`` and ``physics_bias`` groups."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from omegaconf import OmegaConf

from aqnet.models.config import BackboneConfig, EmbedConfig, PhysicsBiasConfig, require
from aqnet.models.spec import ModelSpec, trains_on_gpu

if TYPE_CHECKING:
    from omegaconf import DictConfig
    from torch import nn

    from aqnet.tasks.base import ModelIO

_BLOCK = re.compile(r"^blocks\.(\d+)\.")
_HEAD = re.compile(r"^(norm|head)\.")


@dataclass
class ClimaXModel(ModelSpec):
    """The ClimaX-style vision transformer (:class:`aqnet.models.climax.Forecaster`) with its physics."""

    _target_: str = "aqnet.models.climax.Forecaster"
    name: str = "climax"

    architecture_keys: ClassVar[dict[str, tuple[str, ...]]] = {
        "backbone": ("embed_dim", "depth", "decoder_depth", "num_heads", "mlp_ratio", "patch_size", "predict"),
        "embed": ("name", "tokens", "region", "order_encoding"),
        "physics_bias": ("name", "direction", "blocks", "wind", "learn_beta", "control"),
        "data": ("inputs", "transform"),
    }

    def check(self, cfg: DictConfig) -> None:
        bias: PhysicsBiasConfig = OmegaConf.to_object(cfg.physics_bias)  # type: ignore[assignment]
        backbone: BackboneConfig = OmegaConf.to_object(cfg.backbone)  # type: ignore[assignment]
        embed: EmbedConfig = OmegaConf.to_object(cfg.embed)  # type: ignore[assignment]
        inputs = list(cfg.data.inputs)
        if bias.enabled and bias.blocks != "all":
            bad = [b for b in bias.blocks if not (isinstance(b, int) and 0 <= b < backbone.depth)]
            require(not bad, f"physics_bias.blocks={list(bias.blocks)}: {bad} not in 0..{backbone.depth - 1}")
        missing = [name for name in bias.needed_fields() if name not in inputs]
        require(not missing, f"physics_bias={bias.name} reads {missing} (physical units), which data.inputs lacks")
        missing = [name for name in ("u", "v") if embed.scans_wind and name not in inputs]
        require(not missing, f"embed=wind_scan orders tokens by the wind, but data.inputs lacks {missing}")
        if bias.backend == "flex" and bias.enabled:
            require(
                trains_on_gpu(cfg),
                f"physics_bias.backend=flex cannot train on {cfg.trainer.accelerator!r}: FlexAttention has no CPU "
                "backward; use physics_bias.backend=chunked (exact, O(N) memory) or trainer.accelerator=gpu",
            )
        if cfg.backbone.predict == "change":
            absent = [t for t in cfg.task.get("targets", []) if t not in inputs]
            require(not absent, f"backbone.predict=change starts from the init state, but data.inputs lacks {absent}")

    def build(self, cfg: DictConfig, io: ModelIO) -> nn.Module:
        from hydra.utils import get_class

        backbone: BackboneConfig = OmegaConf.to_object(cfg.backbone)  # type: ignore[assignment]
        embed: EmbedConfig = OmegaConf.to_object(cfg.embed)  # type: ignore[assignment]
        bias: PhysicsBiasConfig = OmegaConf.to_object(cfg.physics_bias)  # type: ignore[assignment]
        forecaster = get_class(self._target_)
        # outputs that are not fields (an exceedance task's logits) have no field prior to start from
        predict = backbone.predict if io.output_is_field else "field"
        model = forecaster(
            input_names=list(io.inputs),
            target_names=list(io.outputs),
            img_size=io.grid_shape,
            patch_size=backbone.patch_size,
            backbone=backbone,
            embed=embed.tokens,
            statistics=io.statistics,
            transforms=dict(io.transforms),
            seed=cfg.seed,
            predict=predict,
            climatology=io.climatology if predict == "anomaly" else None,
            damping=io.damping if predict == "damped" else None,
            physics_bias=build_physics_bias(bias, cfg.seed),
            bias_blocks=bias.blocks if bias.blocks == "all" else list(bias.blocks),
            attention_backend=bias.backend,
            attention_chunk=bias.chunk,
            scan_region=tuple(embed.region) if embed.scans_wind else None,
            scan_order_encoding=embed.order_encoding,
            field_outputs=io.output_is_field,
        )
        model.checkpoint_blocks = bool(cfg.trainer.activation_checkpointing)
        return model

    def layers(self, model: nn.Module) -> tuple[Callable[[str], int], int]:
        """Embeddings are layer 0, block i is layer i + 1, the final norm and head layer depth + 1."""
        depth = len(model.blocks)  # type: ignore[arg-type]

        def layer_of(name: str) -> int:
            block = _BLOCK.match(name)
            if block:
                return int(block.group(1)) + 1
            return depth + 1 if _HEAD.match(name) else 0

        return layer_of, depth + 1


def build_physics_bias(bias: PhysicsBiasConfig, seed: int) -> nn.Module | None:
    """The attention-bias definition of ``physics_bias`` (:mod:`aqnet.models.physics`); None without one."""
    from aqnet.models.physics import AdaptiveBias, TopoFlowBias

    common = {
        "direction": bias.direction,
        "alpha_init": bias.alpha_init,
        "control": bias.control,
        "control_seed": seed,
        "rank": bias.rank,
        "tolerance": bias.tolerance,
    }
    if bias.name == "topoflow":
        return TopoFlowBias(height_scale_m=bias.height_scale_m, clamp=bias.clamp, **common)
    if bias.name == "adaptive":
        return AdaptiveBias(wind=bias.wind, beta_init=bias.beta_init, learn_beta=bias.learn_beta, **common)
    return None
