"""The ClimaX-style forecaster: physical inputs in, normalised target fields out.

Pipeline (ClimaX, re-implemented; state-dict keys follow ClimaX where a counterpart exists):
normalise → per-variable tokens [B, V, L, D] + var_embed → cross-attention over variables (var_query, var_agg)
→ + pos_embed + lead_time_embed(lead/100) + time_embed(hour, day features) → dropout → blocks (block i may get an
additive attention bias) → norm → head → unpatchify.

What the network's output means (``predict``), all in normalised units:
- ``field``: the target field itself, like ClimaX;
- ``change``: the change from the init-time state (persistence + learned increment, as GraphCast does);
- ``anomaly``: the departure from the training years' hour-of-day climatology at the valid time (climatology +
  learned increment). The climatology is a buffer saved with the model, like the normalisation statistics.
- ``damped``: the departure from damped anomaly persistence, C(valid) + φ·(x(init) − C(init)) with C the hour × season
  climatology and φ per target × lead fitted on the training years (buffers saved with the model): the network
  starts from the strongest simple forecast and learns what it misses.
``change`` and ``anomaly`` start from a sensible forecast instead of one a short training run must first learn.
The task computes the loss in normalised units and :meth:`Forecaster.predict_physical` maps back to physical units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from aqnet.errors import ConfigError
from aqnet.models.attention import resolve_backend
from aqnet.models.blocks import Block, drop_path_rates
from aqnet.models.climatology import DampedPrior, HourlyClimatology, SeasonalLookup
from aqnet.models.config import PREDICT_MODES, BackboneConfig
from aqnet.models.embed import VariableAggregation, build_variable_embed, sincos_1d, sincos_2d, time_features
from aqnet.models.heads import PatchHead
from aqnet.models.init import init_parameters
from aqnet.models.normaliser import Normaliser
from aqnet.models.wind_scan import WindScan


class ModelConfigError(ConfigError, ValueError):
    """An impossible model configuration: a ValueError for Python callers, one line for the CLI."""


def climax_base(**overrides: float) -> BackboneConfig:
    """TopoFlow / AQ-Net size: embed 768, depth 6, 8 heads, decoder depth 2 (≈52 M params at 128×256, p=2)."""
    return replace(BackboneConfig(embed_dim=768, depth=6, decoder_depth=2, num_heads=8), **overrides)


class Forecaster(nn.Module):
    """ClimaX-style forecaster over named variables.

    ``inputs`` are [B, V_in, H, W] in physical units, in the order of ``input_names``; predictions are
    [B, V_out, H, W] in the order of ``target_names`` (a subset of the inputs, by name).

    ``physics_bias``: an attention-bias definition (:mod:`aqnet.models.physics`), fed per-token fields from the raw
    physical inputs and added in the blocks ``bias_blocks`` (indices or "all"); ``attention_backend`` /
    ``attention_chunk`` choose how biased attention is computed (:func:`aqnet.models.attention.biased_attention`).
    ``scan_region``: wind scanning (:mod:`aqnet.models.wind_scan`) over regions of that many patches (rows, cols),
    with ``scan_order_encoding`` ("rank" or "none"); None keeps the row-major token order.
    ``checkpoint_blocks``: recompute each transformer block in the backward pass instead of keeping its
    activations (``trainer.activation_checkpointing``): less memory, about one more forward of compute.
    """

    checkpoint_blocks: bool = False

    def __init__(
        self,
        input_names: Sequence[str],
        target_names: Sequence[str],
        img_size: tuple[int, int],
        patch_size: int,
        backbone: BackboneConfig,
        embed: str = "parallel",
        statistics: Mapping[str, Mapping[str, float]] | None = None,
        transforms: Mapping[str, str] | None = None,
        seed: int = 0,
        predict: str = "field",
        climatology: Any = None,
        damping: tuple[Any, Any, Sequence[float]] | None = None,
        physics_bias: nn.Module | None = None,
        bias_blocks: Sequence[int] | str = (0,),
        attention_backend: str = "auto",
        attention_chunk: int = 512,
        scan_region: tuple[int, int] | None = None,
        scan_order_encoding: str = "rank",
        field_outputs: bool = True,
    ) -> None:
        super().__init__()
        self.input_names: tuple[str, ...] = tuple(input_names)
        self.target_names: tuple[str, ...] = tuple(target_names)
        self.img_size: tuple[int, int] = (int(img_size[0]), int(img_size[1]))
        self.patch_size = int(patch_size)
        self.backbone = backbone
        self.embed_kind = embed
        self.seed = seed
        self.predict = predict
        if predict not in PREDICT_MODES:
            raise ModelConfigError(f"backbone.predict={predict!r} must be one of {PREDICT_MODES}")
        if predict == "anomaly" and climatology is None:
            raise ModelConfigError(
                "backbone.predict=anomaly needs the training years' climatology of the targets, which this task "
                "does not supply: set backbone.predict=field"
            )
        if predict == "damped" and damping is None:
            raise ModelConfigError(
                "backbone.predict=damped needs the targets' damped persistence (climatology, φ), which this task "
                "does not supply: set backbone.predict=field (or anomaly, given a climatology)"
            )
        if not field_outputs and predict != "field":
            raise ModelConfigError(
                f"backbone.predict={predict!r} adds a field prior; outputs that are not fields need field"
            )
        self.field_outputs = field_outputs  # False: the outputs are the task's channels (logits), not input fields
        _validate(self.input_names, self.target_names, self.img_size, self.patch_size, backbone, embed, field_outputs)
        self.bias_blocks = _bias_blocks(bias_blocks, backbone.depth)
        try:  # unknown / unavailable backends fail at construction, not at the first forward
            resolve_backend(attention_backend, 0)
        except ValueError as err:
            raise ModelConfigError(str(err)) from None

        h, w = self.img_size
        self.token_grid: tuple[int, int] = (h // self.patch_size, w // self.patch_size)
        num_tokens = self.token_grid[0] * self.token_grid[1]
        dim = backbone.embed_dim
        self._input_index = {name: i for i, name in enumerate(self.input_names)}
        self._target_inputs = [self._input_index[name] for name in self.target_names if field_outputs]  # change

        self.normaliser = Normaliser(self.input_names, statistics, transforms)
        self.token_embeds = build_variable_embed(embed, self.input_names, self.patch_size, dim)
        self.var_embed = nn.Parameter(torch.zeros(1, len(self.input_names), dim))
        self.var_query = nn.Parameter(torch.zeros(1, 1, dim))
        self.var_agg = VariableAggregation(dim, backbone.num_heads)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_tokens, dim))
        self.lead_time_embed = nn.Linear(1, dim)
        self.time_embed = nn.Linear(4, dim)  # not in ClimaX: (sin, cos) of hour of day and of day of year
        self.pos_drop = nn.Dropout(backbone.drop_rate)
        self.blocks = nn.ModuleList(
            Block(
                dim,
                backbone.num_heads,
                backbone.mlp_ratio,
                drop=backbone.drop_rate,
                drop_path=rate,
                backend=attention_backend,
                chunk=int(attention_chunk),
            )
            for rate in drop_path_rates(backbone.drop_path, backbone.depth)
        )
        # One shared definition (keys ``physics_bias.alpha`` / ``.beta``), only when configured, so a model
        # without it keeps its state-dict keys.
        self.physics_bias = physics_bias
        self.wind_scan: WindScan | None = None
        if scan_region is not None:
            try:
                self.wind_scan = WindScan(self.token_grid, scan_region, dim, scan_order_encoding)
            except ValueError as err:
                raise ModelConfigError(str(err)) from None
        self.norm = nn.LayerNorm(dim)
        self.head = PatchHead(dim, backbone.decoder_depth, len(self.target_names), self.patch_size, self.token_grid)
        self.climatology = (
            HourlyClimatology.from_climatology(climatology, self.target_names, persistent=True)
            if predict == "anomaly"
            else None
        )
        self.damped: DampedPrior | None = None
        if predict == "damped":
            assert damping is not None
            self.damped = DampedPrior(SeasonalLookup(damping[0], persistent=True), damping[1], damping[2])
        self.reset_parameters()

    # ----------------------------------------------------------------------------------------------- init
    def fixed_initial_values(self) -> dict[str, Tensor]:
        """Deterministic initial values: sin-cos embeddings (as ClimaX) and the zero variable query."""
        dim = self.backbone.embed_dim
        physics: dict[str, Tensor] = {}
        if self.physics_bias is not None and hasattr(self.physics_bias, "initial_values"):
            physics = {f"physics_bias.{k}": val for k, val in self.physics_bias.initial_values().items()}
        if self.wind_scan is not None and self.wind_scan.order_encoding == "rank":
            ranks = torch.arange(self.wind_scan.region_size)
            physics["wind_scan.rank_embed"] = sincos_1d(dim, ranks).unsqueeze(0)
        return physics | {
            "pos_embed": sincos_2d(dim, *self.token_grid).unsqueeze(0),
            "var_embed": sincos_1d(dim, torch.arange(len(self.input_names))).unsqueeze(0),
            "var_query": torch.zeros(1, 1, dim),
        }

    def reset_parameters(self) -> list[str]:
        """Re-initialise every parameter from ``self.seed`` (see :mod:`aqnet.models.init`)."""
        return init_parameters(self, self.seed, self.fixed_initial_values())

    # ------------------------------------------------------------------------------------- forward parts
    def aggregate_variables(self, tokens: Tensor, visible: Tensor | None = None) -> Tensor:
        """[B, V, L, D] -> [B, L, D]: one learned query attends over the V variable tokens of each patch (only the
        ``visible`` ones, [B, V, L], when given)."""
        b, v, length, d = tokens.shape
        per_patch = tokens.permute(0, 2, 1, 3).reshape(b * length, v, d)
        query = self.var_query.expand(b * length, -1, -1)
        seen = None if visible is None else visible.permute(0, 2, 1).reshape(b * length, v)
        return self.var_agg(query, per_patch, seen).view(b, length, d)

    def patch_means(self, inputs: Tensor, name: str) -> Tensor:
        """Patch-mean of the raw (physical-unit) input ``name``: [B, V_in, H, W] -> [B, L], tokens row-major.

        For physics biases, which read metres and m/s, never normalised values.
        """
        field = inputs[:, self.input_index(name)].unsqueeze(1)
        return F.avg_pool2d(field, self.patch_size).flatten(1)

    def bias_fields(self, inputs: Tensor) -> dict[str, Tensor] | None:
        """The physics bias's per-token fields (patch means of its physical inputs, :attr:`needed_inputs`, in
        metres and m/s); None without a bias."""
        if self.physics_bias is None:
            return None
        return self.physics_bias.token_fields(*(self.patch_means(inputs, n) for n in self.physics_bias.needed_inputs))

    def encode(self, inputs: Tensor, lead_hours: Tensor, hour_of_day: Tensor, day_of_year: Tensor) -> Tensor:
        """Physical inputs [B, V_in, H, W] -> normed token features [B, L, D]."""
        return self.norm(self.encode_layers(inputs, lead_hours, hour_of_day, day_of_year)[-1])

    def encode_layers(
        self,
        inputs: Tensor,
        lead_hours: Tensor,
        hour_of_day: Tensor,
        day_of_year: Tensor,
        visible: Tensor | None = None,
        every_layer: bool = False,
    ) -> list[Tensor]:
        """The encoder's token features [B, L, D] in row-major token order, before the final norm: the last
        block's output, or (``every_layer``) the embedded tokens and every block's output.

        ``visible`` [B, V_in, L] (masked pretraining) hides variable-patch tokens from the variable aggregation; a
        patch with nothing visible enters as its position and time embedding alone, so every patch keeps its place
        (physics biases and wind scanning work on the full grid) without revealing what was hidden.
        """
        self._check_inputs(inputs)
        if visible is not None:
            self._check_raw_reads_visible(visible)
        x = self.normaliser.normalise(inputs, self.input_names)
        tokens = self.token_embeds(x, self.input_names)  # [B, V, L, D]
        var_ids = torch.tensor(self.token_embeds.indices(self.input_names), device=tokens.device)
        tokens = tokens + self.var_embed[:, var_ids].unsqueeze(2)
        x = self.aggregate_variables(tokens, visible) + self.pos_embed
        lead = lead_hours.to(x.dtype).reshape(-1, 1) / 100.0  # ClimaX scales lead hours by 1/100
        x = x + self.lead_time_embed(lead).unsqueeze(1)
        x = x + self.time_embed(time_features(hour_of_day, day_of_year).to(x.dtype)).unsqueeze(1)
        x = self.pos_drop(x)
        # per-token physical fields once per forward, shared by every biased block
        fields = self.bias_fields(inputs)
        order = None
        if self.wind_scan is not None:  # tokens and their fields travel together into scan order, and back
            order = self.wind_scan.order(self.patch_means(inputs, "u"), self.patch_means(inputs, "v"))
            x, fields = self.wind_scan.permute(x, order, fields)
        layers = [x]
        for i, block in enumerate(self.blocks):
            bias = self.physics_bias if fields is not None and i in self.bias_blocks else None
            if self.checkpoint_blocks and torch.is_grad_enabled():
                x = checkpoint(block, x, bias, fields, use_reentrant=False)
            else:
                x = block(x, bias, fields)
            layers.append(x)
        if not every_layer:
            layers = layers[-1:]
        if order is not None:
            layers = [self.wind_scan.unpermute(layer, order) for layer in layers]
        return layers

    def forward(self, inputs: Tensor, lead_hours: Tensor, hour_of_day: Tensor, day_of_year: Tensor) -> Tensor:
        """inputs in PHYSICAL units [B, V_in, H, W] -> predictions in NORMALISED units [B, V_out, H, W]."""
        return self.head(self.encode(inputs, lead_hours, hour_of_day, day_of_year)) + self.prior(
            inputs, lead_hours, hour_of_day, day_of_year
        )

    def prior(self, inputs: Tensor, lead_hours: Tensor, hour_of_day: Tensor, day_of_year: Tensor) -> Tensor | float:
        """What the network's output is added to (normalised): 0, the init-time state, or the climatology."""
        if self.predict == "change":
            state = inputs[:, self._target_inputs]
            return self.normaliser.normalise(state, self.target_names)
        if self.predict == "anomaly":
            assert self.climatology is not None
            valid_hour = torch.remainder(hour_of_day.to(torch.float64) + lead_hours.to(torch.float64), 24.0)
            fields, _ = self.climatology.at_hours(self.target_names, valid_hour)
            # pixels never valid in the training years have no climatology: start them at the mean
            return self.normaliser.normalise(fields, self.target_names).nan_to_num(0.0)
        if self.predict == "damped":
            assert self.damped is not None
            state = inputs[:, self._target_inputs]
            prior = self.damped(state, self.target_names, lead_hours, hour_of_day, day_of_year)
            return self.normaliser.normalise(prior, self.target_names)
        return 0.0

    def predict_physical(self, inputs: Tensor, lead_hours: Tensor, hour_of_day: Tensor, day_of_year: Tensor) -> Tensor:
        """Predictions in physical units [B, V_out, H, W] (the normaliser's inverse applied to :meth:`forward`)."""
        return self.denormalise_targets(self(inputs, lead_hours, hour_of_day, day_of_year))

    def normalise_targets(self, targets: Tensor) -> Tensor:
        """Physical targets [B, V_out, H, W] -> normalised units, to compare with :meth:`forward`."""
        return self.normaliser.normalise(targets, self.target_names)

    def denormalise_targets(self, predictions: Tensor) -> Tensor:
        return self.normaliser.denormalise(predictions, self.target_names)

    # The layout travels in every state dict (key ``_extra_state``), so a loader can match per-variable rows by
    # name and interpolate the position embedding from the source's token grid without any sidecar.
    def get_extra_state(self) -> dict[str, Any]:
        return {
            "input_names": list(self.input_names),
            "target_names": list(self.target_names),
            "token_grid": list(self.token_grid),
            "patch_size": self.patch_size,
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Informational only: loading across layouts is :mod:`aqnet.finetune.loading`'s job."""

    # --------------------------------------------------------------------------------------------- utils
    def input_index(self, name: str) -> int:
        try:
            return self._input_index[name]
        except KeyError:
            raise KeyError(f"{name!r} is not an input variable; inputs: {list(self.input_names)}") from None

    def raw_reads(self) -> tuple[str, ...]:
        """Inputs read in physical units beside the tokens: the wind that orders a scan, the bias's fields."""
        scan = ("u", "v") if self.wind_scan is not None else ()
        bias = tuple(self.physics_bias.needed_inputs) if self.physics_bias is not None else ()
        return tuple(dict.fromkeys(scan + bias))

    def _check_raw_reads_visible(self, visible: Tensor) -> None:
        # A hidden wind would still order the scan or shape the bias: hidden information would leak.
        hidden = [n for n in self.raw_reads() if not bool(visible[:, self.input_index(n)].all())]
        if hidden:
            raise ModelConfigError(
                f"the mask hides {hidden}, which wind scanning or the physics bias read: keep them visible"
            )

    def _check_inputs(self, inputs: Tensor) -> None:
        expected = (len(self.input_names), *self.img_size)
        if inputs.ndim != 4 or tuple(inputs.shape[1:]) != expected:
            raise ValueError(
                f"inputs have shape {tuple(inputs.shape)}; expected [B, {expected[0]}, {expected[1]}, "
                f"{expected[2]}] for variables {list(self.input_names)}"
            )


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (buffers such as normalisation statistics are not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_forecaster_parameters(*args: Any, **kwargs: Any) -> int:
    """Parameter count of ``Forecaster(*args, **kwargs)`` built on the meta device: no memory, no init cost."""
    with torch.device("meta"):
        model = Forecaster(*args, **kwargs)
    return count_parameters(model)


def _bias_blocks(bias_blocks: Sequence[int] | str, depth: int) -> tuple[int, ...]:
    if isinstance(bias_blocks, str):
        if bias_blocks != "all":
            raise ModelConfigError(f"bias_blocks {bias_blocks!r} must be 'all' or a list of block indices")
        return tuple(range(depth))
    blocks = tuple(int(i) for i in bias_blocks)
    bad = [i for i in blocks if not 0 <= i < depth]
    if bad:
        raise ModelConfigError(f"bias_blocks {bad} are outside the backbone's blocks 0..{depth - 1}")
    return blocks


def _validate(
    inputs: tuple[str, ...],
    targets: tuple[str, ...],
    img_size: tuple[int, int],
    patch_size: int,
    backbone: BackboneConfig,
    embed: str,
    field_outputs: bool = True,
) -> None:
    if len(set(inputs)) != len(inputs):
        raise ModelConfigError(f"model.input_names has duplicates: {list(inputs)}")
    if not targets:
        raise ModelConfigError("model.target_names is empty; name at least one target variable")
    for name in targets if field_outputs else ():
        if name not in inputs:
            raise ModelConfigError(
                f"target variable {name!r} is not among the input variables {list(inputs)}; "
                "add it to the inputs or remove it from the targets"
            )
    h, w = img_size
    if patch_size < 1 or h % patch_size or w % patch_size:
        raise ModelConfigError(
            f"backbone.patch_size={patch_size} does not divide the grid {h}x{w} of the data; "
            f"choose a patch size that divides both {h} and {w}"
        )
    if embed not in ("serial", "parallel"):
        raise ModelConfigError(f"model.embed {embed!r} is unknown; choose 'serial' or 'parallel'")
