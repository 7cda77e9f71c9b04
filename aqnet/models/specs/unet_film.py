"""``model=unet_film``: a small U-Net with FiLM conditioning on lead time and time of day / year
(:class:`aqnet.models.unet_film.UNetFiLM`); its keys are this group's own."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from aqnet.models.config import require
from aqnet.models.spec import ModelSpec

if TYPE_CHECKING:
    from omegaconf import DictConfig
    from torch import nn

    from aqnet.tasks.base import ModelIO

_ENCODER = re.compile(r"^encoder\.(\d+)\.")
_DECODER = re.compile(r"^(?:up|decoder)\.(\d+)\.")


@dataclass
class UNetFiLMModel(ModelSpec):
    """U-Net: ``depth`` halvings of the grid, ``width`` channels at full resolution (doubling per level)."""

    _target_: str = "aqnet.models.unet_film.UNetFiLM"
    name: str = "unet_film"
    width: int = 32
    depth: int = 3
    film: bool = True  # FiLM on (lead / 100, hour of day, day of year); False: a plain U-Net
    dropout: float = 0.0
    output_bias: float = -3.0  # initial bias of the logits (σ(−3) ≈ 0.05, near a rare event's base rate)

    architecture_keys: ClassVar[dict[str, tuple[str, ...]]] = {
        "model": ("width", "depth", "film"),
        "data": ("inputs", "transform"),
    }

    def __post_init__(self) -> None:
        require(self.width >= 1, f"model.width={self.width} must be >= 1")
        require(1 <= self.depth <= 6, f"model.depth={self.depth} must be within 1..6")
        require(0 <= self.dropout < 1, f"model.dropout={self.dropout} must be within [0, 1)")

    def build(self, cfg: DictConfig, io: ModelIO) -> nn.Module:
        from hydra.utils import get_class

        network = get_class(self._target_)
        return network(
            input_names=list(io.inputs),
            output_names=list(io.outputs),
            img_size=io.grid_shape,
            statistics=io.statistics,
            transforms=dict(io.transforms),
            width=self.width,
            depth=self.depth,
            film=self.film,
            dropout=self.dropout,
            output_is_field=io.output_is_field,
            output_bias=0.0 if io.output_is_field else self.output_bias,
        )

    def layers(self, model: nn.Module) -> tuple[Callable[[str], int], int]:
        """Encoder level i is layer i, decoder level j is layer depth + 1 + j, the head the last layer."""
        depth = self.depth

        def layer_of(name: str) -> int:
            found = _ENCODER.match(name)
            if found:
                return int(found.group(1))
            found = _DECODER.match(name)
            if found:
                return depth + 1 + int(found.group(1))
            return 2 * depth + 1 if name.startswith("head.") else 0

        return layer_of, 2 * depth + 1
