"""Physics attention-bias definitions: terrain (TopoFlow) and terrain × wind (adaptive).

Semantics: query i is the *receptor*, key j the *source*; a negative
``bias[i, j]`` weakens receptor i's attention to source j. Every definition reads per-token PHYSICAL fields
(elevation in metres, wind in m/s: patch means of the raw inputs, never normalised values) and computes the bias
for a block of query rows at a time, so the chunked backend never materialises an [N, N] matrix per head.

Parameters: ``alpha`` (and ``beta``) are stored as the raw values themselves, shape (1,), so the optimiser's physics
group (regex ``(^|\\.)(alpha|beta)$``) catches them and FlexAttention can read ``alpha[0]``. No transform and no
clamp on α: the bias is linear in α, so its gradient never vanishes, and a sign flip is allowed (the data may
prefer the opposite hypothesis — that is a result, not a failure). The clamp on the bias is smooth (see
:func:`soft_clamp`), so saturated pairs still pass gradient to α.

``control="shuffled_elevation"``: the elevation tokens are permuted by a fixed seeded permutation before the bias
is built. The bias keeps its value distribution but loses its relation to the real terrain, which separates
"any extra learnable bias helps" from "terrain helps". (The permuted fields feed every backend, so the low-rank
features are permuted too.)

Separable forms (:meth:`low_rank_factors`, the ``lowrank`` backend of :mod:`aqnet.models.lowrank`): the rise is
Σ_k r_k(i)·s_k(j) over ``rank`` elevation intervals; the coefficient (−α/H) multiplies the receptor side; the
adaptive bias's wind damping multiplies the side whose wind it reads. The pair-mean wind is not separable.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from aqnet.models.config import CONTROLS, DIRECTIONS, WINDS
from aqnet.models.lowrank import rise_factors

DEFAULT_RANK = 16  # elevation intervals of the lowrank backend
DEFAULT_TOLERANCE = 0.25  # max |low-rank − exact| bias per unit α the lowrank backend accepts


def soft_clamp(x: Tensor, limit: float) -> Tensor:
    """Identity for |x| ≤ limit/2, then a tanh knee saturating at ±limit (C¹ at the knee).

    A hard clamp at -10 would zero α's gradient for every saturated pair; this keeps the exact values
    where the bias is moderate (|x| ≤ 5 for limit 10) and a strictly positive slope everywhere beyond.
    """
    knee = abs(limit) / 2.0
    over = x.abs() - knee
    squashed = knee + knee * torch.tanh(over.clamp_min(0.0) / knee)
    return torch.where(over > 0, x.sign() * squashed, x)


class _ElevationBias(nn.Module, ABC):
    """Shared parts: α, direction, per-token fields and the shuffled-elevation control."""

    uses_wind = False

    def __init__(
        self,
        direction: str,
        alpha_init: float,
        control: str | None,
        control_seed: int,
        rank: int = DEFAULT_RANK,
        tolerance: float = DEFAULT_TOLERANCE,
    ) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"rank {rank} must be >= 1 (elevation intervals of the lowrank backend)")
        if not tolerance > 0:
            raise ValueError(f"tolerance {tolerance} must be > 0 (max low-rank bias error per unit α)")
        self.rank, self.tolerance = int(rank), float(tolerance)
        # backend decisions and measured low-rank errors, per (tokens, device type): made once, reported once
        self.backend_checks: dict[tuple[int, str], tuple[str, str]] = {}
        if direction not in DIRECTIONS:
            raise ValueError(f"direction {direction!r} must be one of {DIRECTIONS}")
        if control not in CONTROLS:
            raise ValueError(f"control {control!r} must be one of {CONTROLS}")
        self.direction = direction
        self.control = control
        self.control_seed = control_seed
        self.alpha_init = float(alpha_init)
        self.alpha = nn.Parameter(torch.tensor([self.alpha_init]))
        self._perms: dict[int, Tensor] = {}

    def initial_values(self) -> dict[str, Tensor]:
        """Constructor values of the learnable parameters (for the Forecaster's seeded re-initialisation)."""
        return {name: torch.tensor([getattr(self, f"{name}_init")]) for name, _ in self.named_parameters()}

    def permutation(self, n: int) -> Tensor:
        """The fixed token permutation of the shuffled control (depends only on ``control_seed`` and n)."""
        if n not in self._perms:
            gen = torch.Generator().manual_seed(self.control_seed)
            self._perms[n] = torch.randperm(n, generator=gen)
        return self._perms[n]

    def token_fields(self, elevation: Tensor, u: Tensor | None = None, v: Tensor | None = None) -> dict[str, Tensor]:
        """Per-token fields [B, N] from elevation (m) and wind components (m/s); applies the control."""
        if self.control == "shuffled_elevation":
            elevation = elevation[:, self.permutation(elevation.shape[1]).to(elevation.device)]
        fields = {"elevation": elevation}
        if self.uses_wind:
            if u is None or v is None:
                raise ValueError(f"{type(self).__name__} needs the wind components u and v")
            fields["wind_speed"] = torch.sqrt(u.square() + v.square())
        return fields

    @property
    def needed_inputs(self) -> tuple[str, ...]:
        """The physical inputs whose per-token (patch-mean) values :meth:`token_fields` takes, in order."""
        return ("elevation", "u", "v") if self.uses_wind else ("elevation",)

    def pairwise(self, fields: Mapping[str, Tensor], rows: slice | None = None) -> Tensor:
        """Bias for receptor ``rows`` (all if None) against all sources: [B, 1, n_rows, N] (dense, chunked)."""
        receptor = {k: (f if rows is None else f[:, rows]).unsqueeze(2) for k, f in fields.items()}
        source = {k: f.unsqueeze(1) for k, f in fields.items()}
        return self.pair_bias(receptor, source).unsqueeze(1)

    def score_mod(self, fields: Mapping[str, Tensor]) -> Callable[..., Tensor]:
        """The same bias as a FlexAttention ``score_mod``: one (batch, query, key) element at a time."""

        def add_bias(score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            receptor = {k: f[b, q_idx] for k, f in fields.items()}
            source = {k: f[b, kv_idx] for k, f in fields.items()}
            return score + self.pair_bias(receptor, source)

        return add_bias

    def low_rank_factors(self, fields: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Receptor and source features [B, N, rank] whose product over the last axis approximates the bias
        (without the clamp): the ``lowrank`` backend (:mod:`aqnet.models.lowrank`)."""
        receptor, source = rise_factors(fields["elevation"], self.rank, self.direction)
        return self.scale_factors(fields, receptor, source)

    def separable(self) -> str | None:
        """None if the bias factorises for the lowrank backend, else why not (one line)."""
        return None

    @abstractmethod
    def scale_factors(self, fields: Mapping[str, Tensor], receptor: Tensor, source: Tensor) -> tuple[Tensor, Tensor]:
        """The rise factors (metres) times the definition's coefficient and modulation."""

    @abstractmethod
    def pair_bias(self, receptor: Mapping[str, Tensor], source: Mapping[str, Tensor]) -> Tensor:
        """The bias from receptor and source fields that broadcast against each other (elementwise only, so one
        formula serves every backend)."""

    def _rise(self, e_receptor: Tensor, e_source: Tensor, scale_m: float) -> Tensor:
        """relu(height difference in the configured direction) / scale."""
        diff = e_source - e_receptor if self.direction == "source_higher" else e_receptor - e_source
        return torch.relu(diff / scale_m)


class TopoFlowBias(_ElevationBias):
    """bias[i, j] = -α · relu(Δe / H), Δe = e_j − e_i (``source_higher``) or e_i − e_j (``receptor_higher``).

    Hypotheses (receptor i, source j):
    - ``source_higher`` (TopoFlow's formula): air from a source *above* the receptor matters less, e.g. a valley
      receptor is decoupled from the elevated layer over mountains (inversions, boundary-layer capping).
    - ``receptor_higher``: transport *upslope* is blocked: a receptor above its source sees less of it, as
      terrain barriers stop pollution rising out of basins.
    The same bias is added for every head; it is soft-clamped at ``clamp`` (None: no clamp).
    """

    def __init__(
        self,
        direction: str = "source_higher",
        alpha_init: float = 1.0,
        height_scale_m: float = 1000.0,
        clamp: float | None = -10.0,
        control: str | None = None,
        control_seed: int = 0,
        rank: int = DEFAULT_RANK,
        tolerance: float = DEFAULT_TOLERANCE,
    ) -> None:
        super().__init__(direction, alpha_init, control, control_seed, rank, tolerance)
        self.height_scale_m = float(height_scale_m)
        self.clamp = clamp

    def pair_bias(self, receptor: Mapping[str, Tensor], source: Mapping[str, Tensor]) -> Tensor:
        bias = -self.alpha[0] * self._rise(receptor["elevation"], source["elevation"], self.height_scale_m)
        return bias if self.clamp is None else soft_clamp(bias, self.clamp)

    def pairwise(self, fields: Mapping[str, Tensor], rows: slice | None = None) -> Tensor:
        """As the base class; the soft clamp is skipped where it cannot engage (every |bias| of these rows below
        its knee: at α = 1, H = 1000 m, clamp −10 that is any relief under 5 km), an exact shortcut."""
        if self.clamp is None or torch.compiler.is_compiling():
            return super().pairwise(fields, rows)
        e = fields["elevation"]
        e_rows = e if rows is None else e[:, rows]
        rising = (e.max() - e_rows.min()) if self.direction == "source_higher" else (e_rows.max() - e.min())
        largest = float(self.alpha.detach().abs()[0]) * max(float(rising), 0.0) / self.height_scale_m
        if largest > abs(self.clamp) / 2.0:
            return super().pairwise(fields, rows)
        receptor = e_rows.unsqueeze(2)
        bias = -self.alpha[0] * self._rise(receptor, e.unsqueeze(1), self.height_scale_m)
        return bias.unsqueeze(1)

    def scale_factors(self, fields: Mapping[str, Tensor], receptor: Tensor, source: Tensor) -> tuple[Tensor, Tensor]:
        return receptor * (-self.alpha[0] / self.height_scale_m), source

    def extra_repr(self) -> str:
        return f"direction={self.direction}, H={self.height_scale_m} m, clamp={self.clamp}, control={self.control}"


class AdaptiveBias(_ElevationBias):
    """bias[i, j] = α · (−0.5 · relu(Δe / 1000 m)) · (1 − β · sigmoid(|w| − 5 m/s)), no clamp.

    Hypothesis: terrain decouples receptor and source (as :class:`TopoFlowBias`, same ``direction`` choices), but
    strong wind mixes across it, so the penalty weakens as wind speed rises past ~5 m/s. ``wind`` picks whose
    speed counts: the ``receptor`` i, the ``source`` j, or the ``pair_mean`` (|w_i| + |w_j|) / 2.
    β is a parameter if ``learn_beta`` else a buffer (same state-dict key ``beta`` either way).
    """

    uses_wind = True
    WIND_PIVOT_MS = 5.0
    HEIGHT_SCALE_M = 1000.0

    def __init__(
        self,
        wind: str = "pair_mean",
        alpha_init: float = 0.2,
        beta_init: float = 0.3,
        learn_beta: bool = False,
        direction: str = "source_higher",
        control: str | None = None,
        control_seed: int = 0,
        rank: int = DEFAULT_RANK,
        tolerance: float = DEFAULT_TOLERANCE,
    ) -> None:
        super().__init__(direction, alpha_init, control, control_seed, rank, tolerance)
        if wind not in WINDS:
            raise ValueError(f"wind {wind!r} must be one of {WINDS}")
        self.wind = wind
        self.beta_init = float(beta_init)
        beta = torch.tensor([self.beta_init])
        if learn_beta:
            self.beta = nn.Parameter(beta)
        else:
            self.register_buffer("beta", beta)

    def pair_bias(self, receptor: Mapping[str, Tensor], source: Mapping[str, Tensor]) -> Tensor:
        rise = self._rise(receptor["elevation"], source["elevation"], self.HEIGHT_SCALE_M)
        s_i, s_j = receptor["wind_speed"], source["wind_speed"]
        speed = s_i if self.wind == "receptor" else s_j if self.wind == "source" else 0.5 * (s_i + s_j)
        return self.alpha[0] * (-0.5 * rise) * self._damping(speed)

    def _damping(self, speed: Tensor) -> Tensor:
        return 1.0 - self.beta[0] * torch.sigmoid(speed - self.WIND_PIVOT_MS)

    def separable(self) -> str | None:
        if self.wind == "pair_mean":
            return (
                "physics_bias.wind=pair_mean is not separable into receptor × source features, so "
                "physics_bias.backend=lowrank cannot compute it; use wind=receptor or wind=source, or backend=chunked"
            )
        return None

    def scale_factors(self, fields: Mapping[str, Tensor], receptor: Tensor, source: Tensor) -> tuple[Tensor, Tensor]:
        if self.separable() is not None:
            raise ValueError(self.separable())
        damping = self._damping(fields["wind_speed"].float()).unsqueeze(-1)  # [B, N, 1]
        receptor = receptor * (-0.5 * self.alpha[0] / self.HEIGHT_SCALE_M)
        return (receptor * damping, source) if self.wind == "receptor" else (receptor, source * damping)

    def extra_repr(self) -> str:
        return f"wind={self.wind}, direction={self.direction}, control={self.control}"


def physics_parameter_names(module: nn.Module) -> list[str]:
    """Names of ``module``'s parameters that the physics optimiser group matches (``alpha`` / ``beta``)."""
    return [n for n, _ in module.named_parameters() if n.rsplit(".", 1)[-1] in ("alpha", "beta")]


__all__ = ["AdaptiveBias", "TopoFlowBias", "physics_parameter_names", "soft_clamp"]
