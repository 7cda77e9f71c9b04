"""Load weights into a composed Forecaster across architecture changes, and report exactly what happened.

Rules, in order:
- per-variable rows (token embeddings of either tokeniser layout, ``var_embed``, normaliser statistics) are
  matched **by variable name**, so a checkpoint with variables in another order, a subset or a superset loads;
- the position embedding is interpolated (bilinear over the token grid) when the grid changed;
- the head's last layer is matched by target name;
- every other key loads when name and shape agree; a key only in the model is *new* (keeps its initialisation),
  a key only in the checkpoint is *dropped*; any other shape mismatch is an error.
The policy decides how much novelty is acceptable; a checkpoint from which nothing loads is always an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from rich.table import Table
from torch import Tensor

from aqnet.errors import ConfigError
from aqnet.finetune.config import STATISTICS
from aqnet.models.climax import Forecaster

_SERIAL = re.compile(r"^token_embeds\.(\d+)\.proj\.(weight|bias)$")
_PARALLEL = {"token_embeds.proj_weights": "weight", "token_embeds.proj_biases": "bias"}
_NORMALISER = ("normaliser.mean", "normaliser.std", "normaliser.log1p")


@dataclass(frozen=True)
class LoadPolicy:
    strict: bool = False  # every key must load as is: nothing new, dropped or reshaped
    max_new_keys: int = 8  # non-strict: at most this many new parameter tensors (e.g. α, a rank embedding)
    max_new_variables: int = 0  # input variables the checkpoint has no embedding for
    statistics: str = "checkpoint"  # normaliser statistics and climatology: from the checkpoint, or recomputed


@dataclass
class LoadReport:
    origin: str
    loaded: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    new: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    dropped: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)
    reshaped: list[tuple[str, tuple[int, ...], tuple[int, ...], str]] = field(default_factory=list)
    new_variables: list[str] = field(default_factory=list)
    dropped_variables: list[str] = field(default_factory=list)

    def table(self, include_loaded: bool = True) -> Table:
        table = Table(title=f"weights from {self.origin}", title_justify="left")
        for column in ("status", "key", "shape", "note"):
            table.add_column(column)
        for key, shape in self.loaded if include_loaded else []:
            table.add_row("loaded", key, str(list(shape)), "")
        for key, old, new, rule in self.reshaped:
            table.add_row("reshaped", key, f"{list(old)} → {list(new)}", rule)
        for key, shape in self.new:
            table.add_row("new", key, str(list(shape)), "kept its initialisation")
        for key, shape in self.dropped:
            table.add_row("dropped", key, str(list(shape)), "not in this model")
        return table

    def summary(self) -> str:
        variables = f"; new variables {self.new_variables}" if self.new_variables else ""
        gone = f"; checkpoint-only variables {self.dropped_variables}" if self.dropped_variables else ""
        return (
            f"{len(self.loaded)} loaded, {len(self.reshaped)} reshaped, {len(self.new)} new, "
            f"{len(self.dropped)} dropped{variables}{gone}"
        )


def load_into(model: Forecaster, source: dict[str, Tensor | Any], policy: LoadPolicy, origin: str) -> LoadReport:
    """Copy ``source`` (a Forecaster state dict, any layout) into ``model`` under ``policy``; return the report."""
    if policy.statistics not in STATISTICS:
        raise ConfigError(f"finetune.statistics={policy.statistics!r} must be one of {STATISTICS}")
    layout = source.get("_extra_state") if isinstance(source.get("_extra_state"), dict) else {}
    src_inputs = _source_inputs(source, layout)
    report = LoadReport(origin)
    target = model.state_dict()
    merged = {k: v.clone() if isinstance(v, Tensor) else v for k, v in target.items()}  # model untouched on error
    handled: set[str] = {"_extra_state", "normaliser._extra_state"}

    if src_inputs is not None:
        handled |= _load_variables(model, source, src_inputs, merged, report, policy, origin)
    if "pos_embed" in source and source["pos_embed"].shape != target["pos_embed"].shape:
        old_grid = tuple(layout.get("token_grid", ())) or None
        merged["pos_embed"] = _interpolate_pos_embed(source["pos_embed"], old_grid, model.token_grid, origin)
        shapes = tuple(source["pos_embed"].shape), tuple(target["pos_embed"].shape)
        report.reshaped.append(("pos_embed", *shapes, "interpolated to the new token grid"))
        handled.add("pos_embed")
    handled |= _load_head(model, source, layout, merged, report)
    if policy.statistics == "recompute":  # this run's own statistics and climatology stay
        handled |= {k for k in source if k.startswith("climatology.") or k in _NORMALISER}

    for key, value in source.items():
        if key in handled or not isinstance(value, Tensor):
            continue
        if key not in target:
            report.dropped.append((key, tuple(value.shape)))
        elif value.shape != target[key].shape:
            raise ConfigError(
                f"{origin}: {key} has shape {list(value.shape)} in the checkpoint but {list(target[key].shape)} in "
                "this model, and no rule reshapes it (is backbone or data.* different?)"
            )
        else:
            merged[key] = value.to(target[key].dtype)
            report.loaded.append((key, tuple(value.shape)))
    seen = {k for k, _ in report.loaded} | {k for k, *_ in report.reshaped} | handled
    report.new = [
        (k, tuple(v.shape))
        for k, v in target.items()
        if k not in seen and k not in source and isinstance(v, Tensor) and not _is_variable_key(k)
    ]
    _check_policy(report, policy, origin)
    model.load_state_dict(merged)
    return report


def _source_inputs(source: dict[str, Any], layout: dict[str, Any]) -> list[str] | None:
    if layout.get("input_names"):
        return list(layout["input_names"])
    normaliser = source.get("normaliser._extra_state")
    return list(normaliser["names"]) if isinstance(normaliser, dict) and "names" in normaliser else None


def _variable_rows(source: dict[str, Any], names: list[str]) -> dict[str, dict[str, Tensor]]:
    """name -> {"weight", "bias", "var_embed", "mean", "std", "log1p"} from either tokeniser layout."""
    rows: dict[str, dict[str, Tensor]] = {n: {} for n in names}
    for key, value in source.items():
        serial = _SERIAL.match(key)
        if serial and int(serial.group(1)) < len(names):
            rows[names[int(serial.group(1))]][serial.group(2)] = value
        elif key in _PARALLEL:
            for i, name in enumerate(names):
                rows[name][_PARALLEL[key]] = value[i]
    if "var_embed" in source:
        for i, name in enumerate(names):
            rows[name]["var_embed"] = source["var_embed"][0, i]
    for key in _NORMALISER:
        if key in source:
            for i, name in enumerate(names):
                rows[name][key.split(".")[1]] = source[key][i]
    return rows


def _is_variable_key(key: str) -> bool:
    return bool(_SERIAL.match(key)) or key in _PARALLEL or key == "var_embed" or key in _NORMALISER


def _row_shape(key: str, tensor: Tensor) -> tuple[int, ...]:
    """The shape of one variable's row in ``key``'s tensor."""
    if key == "var_embed":
        return tuple(tensor.shape[2:])
    if _SERIAL.match(key):
        return tuple(tensor.shape)
    return tuple(tensor.shape[1:])  # parallel token embeddings and normaliser statistics: variable first


def _load_variables(
    model: Forecaster,
    source: dict[str, Any],
    src_inputs: list[str],
    merged: dict[str, Tensor],
    report: LoadReport,
    policy: LoadPolicy,
    origin: str,
) -> set[str]:
    """Per-variable rows by name into the model's own layout; returns the source keys consumed."""
    rows = _variable_rows(source, src_inputs)
    parallel = "token_embeds.proj_weights" in merged
    filled: set[str] = set()
    for i, name in enumerate(model.input_names):
        row = rows.get(name)
        if not row or "weight" not in row:
            report.new_variables.append(name)
            continue
        pairs = (
            [("token_embeds.proj_weights", "weight"), ("token_embeds.proj_biases", "bias")]
            if parallel
            else [(f"token_embeds.{i}.proj.weight", "weight"), (f"token_embeds.{i}.proj.bias", "bias")]
        )
        pairs += [("var_embed", "var_embed")] if "var_embed" in row else []
        if policy.statistics == "checkpoint" and "mean" in row:
            pairs += [(f"normaliser.{stat}", stat) for stat in ("mean", "std", "log1p")]
        for key, part in pairs:
            want = _row_shape(key, merged[key])
            if tuple(row[part].shape) != want:
                raise ConfigError(
                    f"{origin}: the {name!r} rows of {key} have shape {list(row[part].shape)} in the checkpoint but "
                    f"{list(want)} in this model (is backbone.embed_dim or backbone.patch_size different?)"
                )
            if key.startswith("token_embeds.") and not parallel:
                merged[key] = row[part].clone()
            else:
                row_index = (0, i) if key == "var_embed" else (i,)
                merged[key][row_index] = row[part]
            filled.add(key)
    report.dropped_variables = [n for n in src_inputs if n not in model.input_names]
    same = list(model.input_names) == src_inputs and all(k in source for k in filled)
    rule = "rows matched by variable name" + ("" if same else f" (checkpoint variables {src_inputs})")
    for key in sorted(filled):
        shape = tuple(merged[key].shape)
        if same:
            report.loaded.append((key, shape))
        else:
            report.reshaped.append((key, tuple(source[key].shape) if key in source else (), shape, rule))
    return {k for k in source if _is_variable_key(k)}


def _interpolate_pos_embed(
    pos: Tensor, old_grid: tuple[int, ...] | None, new_grid: tuple[int, int], origin: str
) -> Tensor:
    if old_grid is None or len(old_grid) != 2 or old_grid[0] * old_grid[1] != pos.shape[1]:
        raise ConfigError(f"{origin}: pos_embed has {pos.shape[1]} tokens but the checkpoint does not say its grid")
    grid = pos.reshape(1, old_grid[0], old_grid[1], -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=new_grid, mode="bilinear", align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], -1)


def _load_head(
    model: Forecaster, source: dict[str, Any], layout: dict[str, Any], merged: dict[str, Tensor], report: LoadReport
) -> set[str]:
    """The head's last layer by target name (rows are laid out p, q, variable with the variable fastest)."""
    last = len(model.head) - 1
    keys = (f"head.{last}.weight", f"head.{last}.bias")
    src_targets = layout.get("target_names")
    if not src_targets or keys[0] not in source or list(src_targets) == list(model.target_names):
        return set()
    missing = [n for n in model.target_names if n not in src_targets]
    if missing and all(k in merged and source[k].shape != merged[k].shape for k in keys):
        # other outputs altogether (another task's channels, e.g. exceedance logits): the last layer keeps its
        # initialisation, the encoder and the rest of the head load
        for key in keys:
            report.reshaped.append(
                (key, tuple(source[key].shape), tuple(merged[key].shape), "new outputs: initialised")
            )
        return set(keys)
    if missing:
        return set()  # new targets: the last layer is new as a whole (reported as new / shape error)
    p2 = model.patch_size**2
    rows = torch.tensor([k * len(src_targets) + src_targets.index(n) for k in range(p2) for n in model.target_names])
    for key in keys:
        merged[key] = source[key][rows]
        report.reshaped.append((key, tuple(source[key].shape), tuple(merged[key].shape), "target rows by name"))
    return set(keys)


def _check_policy(report: LoadReport, policy: LoadPolicy, origin: str) -> None:
    if not report.loaded and not report.reshaped:
        raise ConfigError(f"{origin}: nothing in the checkpoint matches this model (an unrelated checkpoint?)")
    if policy.strict and (report.new or report.dropped or report.reshaped):
        raise ConfigError(
            f"{origin}: strict loading, but {report.summary()}; set finetune.strict=false to allow new keys"
        )
    if len(report.new) > policy.max_new_keys:
        names = [k for k, _ in report.new]
        raise ConfigError(
            f"{origin}: {len(report.new)} new keys exceed finetune.max_new_keys={policy.max_new_keys}: {names[:6]}"
            f"{' …' if len(names) > 6 else ''}"
        )
    if len(report.new_variables) > policy.max_new_variables:
        raise ConfigError(
            f"{origin}: input variables {report.new_variables} have no embedding in the checkpoint "
            f"(finetune.max_new_variables={policy.max_new_variables})"
        )
