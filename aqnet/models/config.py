"""The typed configs of the ClimaX-style forecaster (groups ``backbone``, ``embed``, ``physics_bias``).

Each class checks its own fields (``__post_init__``), so a wrong value fails when the composed config is validated,
before any data is read; checks that involve several groups live in :mod:`aqnet.config.validate`. Light on purpose
(no torch): the CLI composes and validates a config without importing the model code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from aqnet.errors import ConfigError

PREDICT_MODES = ("field", "change", "anomaly", "damped")
EMBEDS = ("serial", "parallel", "wind_scan")
TOKENISERS = ("serial", "parallel")
ORDER_ENCODINGS = ("rank", "none")
PHYSICS_BIASES = ("none", "topoflow", "adaptive")
DIRECTIONS = ("source_higher", "receptor_higher")
WINDS = ("pair_mean", "receptor", "source")
CONTROLS = (None, "shuffled_elevation")
BACKENDS = ("auto", "dense", "chunked", "lowrank", "flex")
# The one rule for "is this a physics parameter?" (own optimiser group, logged as physics/*): α and β of a bias
# definition, and anything inside a module whose name starts with "physics".
PHYSICS_PARAMETER = re.compile(r"(^|\.)(alpha|beta)$|(^|\.)physics")


def require(ok: bool, message: str) -> None:
    """Raise a one-line ConfigError unless ``ok``."""
    if not ok:
        raise ConfigError(message)


def one_of(group: str, key: str, value: Any, choices: tuple[Any, ...]) -> None:
    require(value in choices, f"{group}.{key}={value!r} must be one of {list(choices)}")


@dataclass
class BackboneConfig:
    """The transformer: width, depth, heads, patch size and what the head predicts (conf/backbone/*.yaml)."""

    name: str = "climax_tiny"
    embed_dim: int = 64
    depth: int = 3
    decoder_depth: int = 2
    num_heads: int = 4
    mlp_ratio: float = 4.0
    drop_path: float = 0.0
    drop_rate: float = 0.0
    patch_size: int = 2
    # what the head's output is added to: field (nothing, as ClimaX) | change (the init state) | anomaly (the
    # hour-of-day climatology) | damped (damped anomaly persistence: the strongest simple forecast)
    predict: str = "damped"

    def __post_init__(self) -> None:
        one_of("backbone", "predict", self.predict, PREDICT_MODES)
        require(self.patch_size >= 1, f"backbone.patch_size={self.patch_size} must be >= 1")
        require(self.depth >= 1, f"backbone.depth={self.depth} must be >= 1")
        require(self.decoder_depth >= 0, f"backbone.decoder_depth={self.decoder_depth} must be >= 0")
        require(
            self.num_heads >= 1 and self.embed_dim % self.num_heads == 0,
            f"backbone.embed_dim={self.embed_dim} is not divisible by backbone.num_heads={self.num_heads}",
        )
        require(self.embed_dim % 4 == 0, f"backbone.embed_dim={self.embed_dim} must be divisible by 4 (2-D sin-cos)")
        for key in ("drop_path", "drop_rate"):
            value = getattr(self, key)
            require(0.0 <= value < 1.0, f"backbone.{key}={value} must be within [0, 1)")


@dataclass
class EmbedConfig:
    """How fields become tokens and in which order (conf/embed/*.yaml)."""

    name: str = "parallel"  # serial | parallel | wind_scan
    tokens: str = "parallel"  # the tokeniser: serial (one conv per variable) | parallel (one grouped conv)
    region: list[int] = field(default_factory=lambda: [2, 4])  # wind_scan: region in patches (rows, cols)
    order_encoding: str = "rank"  # wind_scan: rank (learned embedding of the scan rank) | none (order is inert)

    def __post_init__(self) -> None:
        one_of("embed", "name", self.name, EMBEDS)
        one_of("embed", "tokens", self.tokens, TOKENISERS)
        if self.name != "wind_scan":
            require(self.tokens == self.name, f"embed.tokens={self.tokens!r} contradicts embed.name={self.name!r}")
            return
        require(
            len(self.region) == 2 and all(r >= 1 for r in self.region),
            f"embed.region={list(self.region)} must be two positive patch counts [rows, cols]",
        )
        one_of("embed", "order_encoding", self.order_encoding, ORDER_ENCODINGS)

    @property
    def scans_wind(self) -> bool:
        return self.name == "wind_scan"


@dataclass
class PhysicsBiasConfig:
    """The attention bias that carries the physics (conf/physics_bias/*.yaml; docs/physics.md)."""

    name: str = "none"  # none | topoflow | adaptive (aqnet/models/physics.py)
    direction: str = "source_higher"  # source_higher: -α·relu(e_j - e_i); receptor_higher: upslope transport blocked
    alpha_init: float = 1.0
    height_scale_m: float = 1000.0  # topoflow: H in relu(Δe / H)
    clamp: float | None = -10.0  # topoflow: smooth floor of the bias; null = none
    wind: str = "pair_mean"  # adaptive: whose |w| modulates the bias: pair_mean | receptor | source
    beta_init: float = 0.3  # adaptive: 1 - β·sigmoid(|w| - 5 m/s)
    learn_beta: bool = False
    blocks: Any = field(default_factory=lambda: [0])  # block indices that carry the bias, or "all"
    # auto (fastest within tolerance) | dense (reference, small N) | chunked (exact, O(N·chunk) memory) |
    # lowrank (rank elevation features in q and k, one fused call; approximate) | flex (CUDA)
    backend: str = "auto"
    chunk: int = 512  # query rows per chunk for the chunked backend
    rank: int = 16  # lowrank: elevation intervals (thresholds at the terrain's quantiles); error ≤ Δ_k / 4 per pair
    tolerance: float = 0.25  # lowrank: largest |low-rank − exact| bias per unit α accepted (measured at start)
    control: str | None = None  # shuffled_elevation: same bias on permuted terrain (the study's control)

    def __post_init__(self) -> None:
        one_of("physics_bias", "name", self.name, PHYSICS_BIASES)
        if self.name == "none":
            return
        one_of("physics_bias", "direction", self.direction, DIRECTIONS)
        one_of("physics_bias", "wind", self.wind, WINDS)
        one_of("physics_bias", "control", self.control, CONTROLS)
        one_of("physics_bias", "backend", self.backend, BACKENDS)
        require(self.chunk >= 1, f"physics_bias.chunk={self.chunk} must be >= 1")
        require(
            isinstance(self.rank, int) and self.rank >= 1,
            f"physics_bias.rank={self.rank} must be an integer >= 1 (elevation intervals of the lowrank backend)",
        )
        require(self.tolerance > 0, f"physics_bias.tolerance={self.tolerance} must be > 0 (bias error per unit α)")
        require(
            not (self.backend == "lowrank" and self.name == "adaptive" and self.wind == "pair_mean"),
            "physics_bias.backend=lowrank cannot compute wind=pair_mean (not separable into receptor × source "
            "features); use physics_bias.wind=receptor or wind=source, or backend=chunked",
        )
        require(self.height_scale_m > 0, f"physics_bias.height_scale_m={self.height_scale_m} must be > 0")
        blocks = self.blocks
        require(
            blocks == "all" or (isinstance(blocks, list | tuple) and len(blocks) > 0),
            f"physics_bias.blocks={blocks} must be 'all' or a non-empty list of block indices",
        )

    @property
    def enabled(self) -> bool:
        return self.name != "none"

    def needed_fields(self) -> list[str]:
        """The physical inputs the bias reads: elevation (m), and the wind (m/s) for the adaptive bias."""
        if not self.enabled:
            return []
        return ["elevation", *(["u", "v"] if self.name == "adaptive" else [])]
