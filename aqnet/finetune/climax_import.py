"""Import microsoft/ClimaX's released Lightning checkpoints into a :class:`~aqnet.models.climax.Forecaster`.

Variables are matched by NAME through :data:`CLIMAX_ALIASES`, never by list position, for serial
(``token_embeds.{i}.proj.*``) and parallel (``token_embeds.proj_weights`` / ``proj_biases``) checkpoints alike.
Token embeddings and ``var_embed`` rows are copied for variables in both; ``pos_embed`` is interpolated when the
token grid differs; the head's last layer (ClimaX: every variable × p²) is sliced to the model's targets by name;
the rest (``var_query``, ``var_agg``, ``lead_time_embed``, ``blocks``, ``norm``, hidden head layers) loads by key.
aqnet-only parts (``time_embed``, normaliser, physics bias, wind scan, climatology) keep their initialisation.

CLI: ``python -m aqnet.finetune.climax_import CKPT --out converted.pt`` (see docs/finetuning.md).
"""

from __future__ import annotations

import argparse
import math
import pickle
import re
import textwrap
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from aqnet.errors import DataError, run_cli
from aqnet.models.climax import BackboneConfig, Forecaster, ModelConfigError
from aqnet.models.embed import SerialVariableEmbed

# ClimaX long name -> aqnet name, only where the quantity truly is the same one.
CLIMAX_ALIASES: dict[str, str] = {
    "10m_u_component_of_wind": "u",  # eastward wind at 10 m, m s-1
    "10m_v_component_of_wind": "v",  # northward wind at 10 m, m s-1
    "2m_temperature": "temp",  # air temperature at 2 m, K
    "surface_pressure": "psfc",  # ERA5 sp, Pa (in ClimaX's vocabulary, not among the released variables)
    "orography": "elevation",  # WeatherBench surface height, m
    "lattitude": "lat2d",  # ClimaX's spelling of WeatherBench's lat2d, degrees north
    "latitude": "lat2d",
    "longitude": "lon2d",  # not in the released checkpoints; maps if a checkpoint has it
}
# Deliberately unmapped: relative_humidity_{50..925} is on pressure levels (925 hPa lies ~750 m above sea level,
# below ground over high terrain), not aqnet's near-surface rh; mean_sea_level_pressure is reduced to sea level,
# not psfc; land_sea_mask, geopotential/temperature/winds/specific humidity on levels have no aqnet counterpart.
# Pass ``aliases={"relative_humidity_925": "rh"}`` to map one anyway.

_LEVELS = (50, 250, 500, 600, 700, 850, 925)
_LEVEL_VARS = ("geopotential", "u_component_of_wind", "v_component_of_wind", "temperature")
# The 48 variables of the released checkpoints, in their order (configs/pretrain_climax.yaml: default_vars).
CLIMAX_DEFAULT_VARIABLES: tuple[str, ...] = (
    *("land_sea_mask", "orography", "lattitude", "2m_temperature"),
    *("10m_u_component_of_wind", "10m_v_component_of_wind"),
    *(f"{v}_{lvl}" for v in (*_LEVEL_VARS, "relative_humidity", "specific_humidity") for lvl in _LEVELS),
)
_AQNET_ONLY = ("time_embed.", "normaliser.", "physics_bias.", "wind_scan.", "climatology.")
_SERIAL_KEY = re.compile(r"^token_embeds\.(\d+)\.proj\.(weight|bias)$")


class ClimaxImportError(DataError, ValueError):
    """The file is missing, not loadable safely, not a ClimaX checkpoint, or nothing in it maps onto the model."""


@dataclass
class ImportReport:
    checkpoint: str
    mapped: dict[str, str] = field(default_factory=dict)  # aqnet name -> ClimaX name
    unmapped_climax: list[str] = field(default_factory=list)  # ClimaX variables with no aqnet counterpart
    new_variables: list[str] = field(default_factory=list)  # model inputs with no ClimaX counterpart
    new_head_targets: list[str] = field(default_factory=list)  # targets whose head rows stay initialised
    loaded: list[str] = field(default_factory=list)  # model keys that received checkpoint values (maybe in part)
    new: list[str] = field(default_factory=list)  # model keys left as the model initialised them
    dropped: list[str] = field(default_factory=list)  # checkpoint keys (``net.`` stripped) not used at all
    reshaped: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(
        default_factory=dict
    )  # key -> (checkpoint, model) shape

    def table(self) -> str:
        """Plain text, one section per list; long key lists grouped by top module (``blocks.* (96)``)."""
        sections = [
            ("mapped variables (ClimaX -> aqnet)", [f"{c} -> {a}" for a, c in self.mapped.items()]),
            ("unmapped ClimaX variables", self.unmapped_climax),
            ("new variables (initialised)", self.new_variables),
            ("targets without ClimaX head rows", self.new_head_targets),
            ("reshaped keys", [f"{k} {list(o)} -> {list(n)}" for k, (o, n) in self.reshaped.items()]),
        ]
        keys = [("loaded keys", self.loaded), ("new keys (initialised)", self.new), ("dropped keys", self.dropped)]
        lines = [f"ClimaX import from {self.checkpoint}"]
        for title, items, count in [(t, i, len(i)) for t, i in sections] + [(t, _compact(k), len(k)) for t, k in keys]:
            body = textwrap.fill(", ".join(items) or "-", 116, initial_indent="    ", subsequent_indent="    ")
            lines += [f"  {title} ({count}):", body]
        return "\n".join(lines)


def _compact(keys: Sequence[str]) -> list[str]:
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(key.split(".")[0], []).append(key)
    return [item for g, ks in groups.items() for item in ([f"{g}.* ({len(ks)})"] if len(ks) > 3 else ks)]


def load_climax_state(path: str | Path) -> dict[str, Tensor]:
    """The ClimaX state dict in a Lightning checkpoint (or a plain state dict), ``net.`` stripped, read safely."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ClimaxImportError(f"ClimaX checkpoint {path} does not exist")
    with path.open("rb") as fh:
        first = fh.read(1)
    if first != b"\x80" and not zipfile.is_zipfile(path):  # torch.save writes a zip (long ago, a pickle)
        raise ClimaxImportError(f"{path} is not a PyTorch checkpoint (neither a zip archive nor a pickle)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        detail = [ln for ln in str(err).splitlines() if "GLOBAL" in ln or "Unsupported" in ln] or ["not plain weights"]
        raise ClimaxImportError(
            f"{path} cannot be loaded safely with torch.load(weights_only=True) ({detail[0].strip()}); it was not "
            "unpickled, as that could run code. If you trust it, save its ['state_dict'] with plain tensors first"
        ) from None
    except Exception as err:  # a zip without data.pkl, random bytes, a truncated file
        raise ClimaxImportError(f"{path} is not a PyTorch checkpoint ({type(err).__name__}: {err})") from None
    state = content.get("state_dict", content) if isinstance(content, dict) else None
    if not isinstance(state, dict) or not any(isinstance(v, Tensor) for v in state.values()):
        raise ClimaxImportError(f"{path} is not a checkpoint: it holds no state dict of tensors")
    tensors = {str(k): v for k, v in state.items() if isinstance(v, Tensor)}
    if any(k.startswith("net.") for k in tensors):
        tensors = {k[4:]: v for k, v in tensors.items() if k.startswith("net.")}
    # older ClimaX checkpoints say channel_embed / channel_query / channel_agg, as ClimaX's own loader renames
    return {k.replace("channel", "var"): v for k, v in tensors.items()}


@torch.no_grad()
def import_climax(
    checkpoint_path: str | Path | Mapping[str, Tensor],
    model: Forecaster,
    climax_variables: Sequence[str] | None = None,
    *,
    aliases: Mapping[str, str] | None = None,
    source_grid: tuple[int, int] | None = None,
    interpolation: str = "bicubic",
) -> ImportReport:
    """Copy a ClimaX checkpoint's weights into ``model`` in place (see the module docstring); returns the report.

    ``checkpoint_path``: a Lightning checkpoint, or a ClimaX state dict already in memory. ``climax_variables``: the
    checkpoint's ``default_vars`` in order (default: the released 48). ``aliases`` add to or override
    :data:`CLIMAX_ALIASES`. ``source_grid``: the checkpoint's token grid (default: the model's when the counts agree,
    else 2:1 as ClimaX's global grids, else the model's aspect). ``interpolation``: ``bicubic`` as ClimaX's
    interpolate_pos_embed, or ``bilinear``.
    """
    is_file = isinstance(checkpoint_path, str | Path)
    state = load_climax_state(checkpoint_path) if is_file else dict(checkpoint_path)
    origin = str(checkpoint_path) if is_file else "state dict"
    missing = [k for k in ("var_embed", "pos_embed", "head.0.weight") if k not in state]
    if missing:
        raise ClimaxImportError(f"{origin} is not a ClimaX checkpoint: it lacks {missing}")
    if interpolation not in ("bicubic", "bilinear"):
        raise ModelConfigError(f"interpolation {interpolation!r} must be 'bicubic' or 'bilinear'")
    _, n_vars, dim = state["var_embed"].shape
    names = tuple(climax_variables or (CLIMAX_DEFAULT_VARIABLES if n_vars == len(CLIMAX_DEFAULT_VARIABLES) else ()))
    if len(names) != n_vars:
        raise ModelConfigError(f"{origin} has {n_vars} variables; pass its default_vars as climax_variables")
    if dim != model.backbone.embed_dim:
        raise ModelConfigError(
            f"{origin} has embed_dim {dim} but the model {model.backbone.embed_dim}: build the model with the "
            "checkpoint's backbone (the released ones: conf/backbone/climax_1024)"
        )
    weights, biases, used = _token_embeds(state, n_vars, origin)
    if weights.shape[-1] != model.patch_size:
        p = weights.shape[-1]
        raise ModelConfigError(f"{origin} has patch size {p} but the model {model.patch_size}: use {p} (--patch-size)")
    table = {**CLIMAX_ALIASES, **(aliases or {})}
    index: dict[str, int] = {}  # aqnet name -> ClimaX row
    for i, name in enumerate(names):
        target = table.get(name, name)
        if target in model.input_names and target not in index:
            index[target] = i
    if not index:
        raise ClimaxImportError(f"none of {origin}'s variables maps onto the model's inputs {list(model.input_names)}")
    report = ImportReport(origin, {a: names[i] for a, i in index.items()})
    report.unmapped_climax = [n for i, n in enumerate(names) if i not in index.values()]
    report.new_variables = [n for n in model.input_names if n not in index]
    current = {k: v for k, v in model.state_dict().items() if isinstance(v, Tensor)}
    updates: dict[str, Tensor] = {}

    def put(key: str, value: Tensor, source: Tensor | None = None) -> None:
        updates[key] = value
        if source is not None and source.shape != value.shape:
            report.reshaped[key] = (tuple(source.shape), tuple(value.shape))

    rows = {name: model.token_embeds.indices([name])[0] for name in index}  # aqnet row of each mapped variable
    serial = isinstance(model.token_embeds, SerialVariableEmbed)
    var_embed = current["var_embed"].clone()
    for name, i in index.items():  # token embeddings, into either tokeniser layout, and var_embed rows
        var_embed[0, rows[name]] = state["var_embed"][0, i]
        if serial:
            put(f"token_embeds.{rows[name]}.proj.weight", weights[i])
            put(f"token_embeds.{rows[name]}.proj.bias", biases[i])
        else:
            for key, value in (("token_embeds.proj_weights", weights[i]), ("token_embeds.proj_biases", biases[i])):
                updates.setdefault(key, current[key].clone())[rows[name]] = value
                put(key, updates[key], state.get(key))
        used |= {f"token_embeds.{i}.proj.weight", f"token_embeds.{i}.proj.bias"} & set(state)
    put("var_embed", var_embed, state["var_embed"])
    pos_embed = _pos_embed(state["pos_embed"], model.token_grid, source_grid, interpolation, origin)
    put("pos_embed", pos_embed, state["pos_embed"])
    used |= {"var_embed", "pos_embed"}

    last = len(model.head) - 1
    src_last = max(int(k.split(".")[1]) for k in state if re.fullmatch(r"head\.\d+\.weight", k))
    targets = [t for t in model.target_names if t in index]
    report.new_head_targets = [t for t in model.target_names if t not in index]
    for part in ("weight", "bias") if targets else ():  # rows laid out (p, q, variable), variable fastest
        source = state[f"head.{src_last}.{part}"]
        own = current[f"head.{last}.{part}"].clone().unflatten(0, (-1, len(model.target_names)))
        for t in targets:
            own[:, model.target_names.index(t)] = source.unflatten(0, (-1, n_vars))[:, index[t]]
        put(f"head.{last}.{part}", own.flatten(0, 1), source)
        used.add(f"head.{src_last}.{part}")

    skip = (*_AQNET_ONLY, "token_embeds.", f"head.{src_last}.")
    mismatched = []
    for key, value in state.items():  # everything else by name
        if key in used or key not in current or key.startswith(skip):
            continue
        if value.shape != current[key].shape:
            mismatched.append(f"{key} {list(value.shape)} vs {list(current[key].shape)}")
        put(key, value)
        used.add(key)
    if mismatched:
        raise ModelConfigError(
            f"{origin} and the model differ in backbone shape ({'; '.join(mismatched[:3])}): build the model with "
            "the checkpoint's backbone (the released ones are conf/backbone/climax_1024)"
        )
    model.load_state_dict({k: v.to(current[k].dtype) for k, v in updates.items()}, strict=False)
    report.loaded = [k for k in current if k in updates]
    report.new = [k for k in current if k not in updates]
    report.dropped = [k for k in state if k not in used]
    return report


def _token_embeds(state: Mapping[str, Tensor], n_vars: int, origin: str) -> tuple[Tensor, Tensor, set[str]]:
    """[V, D, 1, p, p] weights and [V, D] biases from a parallel or a serial checkpoint."""
    if "token_embeds.proj_weights" in state:
        keys = {"token_embeds.proj_weights", "token_embeds.proj_biases"}
        return state["token_embeds.proj_weights"], state["token_embeds.proj_biases"], keys
    serial = sorted({int(m.group(1)) for k in state if (m := _SERIAL_KEY.match(k))})
    if serial != list(range(n_vars)):
        raise ClimaxImportError(f"{origin} has token embeddings for {len(serial)} variables, var_embed {n_vars}")
    weights = torch.stack([state[f"token_embeds.{i}.proj.weight"] for i in serial])
    return weights, torch.stack([state[f"token_embeds.{i}.proj.bias"] for i in serial]), set()


def _pos_embed(pos: Tensor, grid: tuple[int, int], source: tuple[int, int] | None, mode: str, origin: str) -> Tensor:
    """The checkpoint's [1, L, D] position embedding on the model's token grid (interpolated if it differs)."""
    n = pos.shape[1]
    if source is None and n == grid[0] * grid[1]:
        source = grid
    for ratio in (2.0, grid[1] / grid[0]) if source is None else ():
        h = round(math.sqrt(n / ratio))
        if h > 0 and h * round(h * ratio) == n:
            source = (h, round(h * ratio))
            break
    if source is None or source[0] * source[1] != n:
        raise ModelConfigError(f"{origin}: cannot tell the token grid of its {n}-token pos_embed; pass source_grid")
    if tuple(source) == tuple(grid):
        return pos.clone()
    image = pos.reshape(1, source[0], source[1], -1).permute(0, 3, 1, 2).float()
    image = F.interpolate(image, size=grid, mode=mode, align_corners=False)
    return image.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], -1)


def _main(argv: Sequence[str] | None = None) -> int:
    from omegaconf import OmegaConf

    from aqnet.variables import INPUT_VARIABLES, POLLUTANTS

    parser = argparse.ArgumentParser(prog="python -m aqnet.finetune.climax_import", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a ClimaX Lightning checkpoint (e.g. 5.625deg.ckpt)")
    parser.add_argument("--out", type=Path, required=True, help="where to save the converted state dict (.pt)")
    parser.add_argument("--backbone", default="climax_1024", help="conf/backbone preset (default climax_1024)")
    parser.add_argument("--img-size", type=int, nargs=2, default=(128, 256), metavar=("H", "W"))
    parser.add_argument("--patch-size", type=int, help="default: the backbone preset's patch_size")
    parser.add_argument("--embed", choices=("parallel", "serial"), default="parallel")
    parser.add_argument("--inputs", nargs="+", default=list(INPUT_VARIABLES))
    parser.add_argument("--targets", nargs="+", default=list(POLLUTANTS))
    parser.add_argument("--climax-variables", nargs="+", help="the checkpoint's default_vars (default: released 48)")
    args = parser.parse_args(argv)
    preset = files("aqnet.conf").joinpath("backbone", f"{args.backbone}.yaml")
    if not preset.is_file():
        raise ModelConfigError(f"--backbone {args.backbone}: no such preset in conf/backbone")
    node = OmegaConf.load(str(preset))
    backbone = BackboneConfig(**{k: node[k] for k in BackboneConfig.__dataclass_fields__ if k in node})
    model = Forecaster(
        args.inputs, args.targets, tuple(args.img_size), args.patch_size or node.patch_size, backbone, args.embed
    )
    report = import_climax(args.checkpoint, model, args.climax_variables)
    print(report.table())
    imported = {k: v.detach().clone() for k, v in model.state_dict().items() if k in set(report.loaded)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(imported, args.out)
    print(f"saved {len(imported)} imported tensors to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(_main))
