"""Checks the types cannot express. Each failure is one ConfigError line naming the key and how to fix it."""

from __future__ import annotations

from collections.abc import Mapping

from omegaconf import DictConfig, OmegaConf

from aqnet.errors import ConfigError
from aqnet.models.attention import BACKENDS
from aqnet.models.climax import PREDICT_MODES
from aqnet.models.physics import CONTROLS, DIRECTIONS, WINDS
from aqnet.models.wind_scan import ORDER_ENCODINGS
from aqnet.variables import VARIABLES

PHYSICS_BIASES = ("none", "topoflow", "adaptive")
BENCHMARK_SIZES = ("tiny", "small", "full")
EMBEDS = ("serial", "parallel", "wind_scan")
TOKENISERS = ("serial", "parallel")
TRANSFORMS = ("log1p", "none")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate_config(cfg: DictConfig) -> None:
    """Validate a composed config before any data is read."""
    data, backbone, optim, trainer = cfg.data, cfg.backbone, cfg.optim, cfg.trainer
    _require(
        not OmegaConf.is_missing(data, "path"),
        "data=zarr needs the store's location: add data.path=/path/to/store.zarr",
    )
    if data.path is None:
        _require(
            data.benchmark in BENCHMARK_SIZES,
            f"data.path is not set and data.benchmark={data.benchmark!r} is not one of {BENCHMARK_SIZES}; "
            "for your own store use data=zarr data.path=/path/to/store.zarr",
        )
    unknown = [v for v in [*data.inputs, *data.targets] if v not in VARIABLES]
    _require(not unknown, f"data.inputs/data.targets name unknown variables {unknown}; known: {list(VARIABLES)}")
    missing = [t for t in data.targets if t not in data.inputs]
    _require(
        not missing,
        f"data.targets {missing} are not among data.inputs; a target must also be an input "
        "(its value at init time feeds the model and the persistence baseline)",
    )
    _require(len(set(data.inputs)) == len(data.inputs), f"data.inputs has duplicates: {list(data.inputs)}")
    _require(bool(data.targets), "data.targets is empty")
    _require(
        bool(data.lead_hours) and all(h > 0 for h in data.lead_hours),
        f"data.lead_hours={list(data.lead_hours)} must be a non-empty list of positive hours",
    )
    for split in ("train_years", "val_years", "test_years"):
        _require(bool(data[split]), f"data.{split} is empty")
    _require(data.transform in TRANSFORMS, f"data.transform={data.transform!r} must be one of {TRANSFORMS}")
    _require(data.batch_size >= 1, f"data.batch_size={data.batch_size} must be >= 1")
    _require(data.num_workers >= 0, f"data.num_workers={data.num_workers} must be >= 0")

    _validate_embed(cfg)
    _validate_physics_bias(cfg)
    _validate_finetune(cfg)
    _require(backbone.predict in PREDICT_MODES, f"backbone.predict={backbone.predict!r} must be one of {PREDICT_MODES}")
    _require(backbone.patch_size >= 1, f"backbone.patch_size={backbone.patch_size} must be >= 1")
    _require(
        backbone.embed_dim % backbone.num_heads == 0,
        f"backbone.embed_dim={backbone.embed_dim} is not divisible by backbone.num_heads={backbone.num_heads}",
    )
    _require(backbone.depth >= 1, f"backbone.depth={backbone.depth} must be >= 1")

    _require(optim.lr > 0, f"optim.lr={optim.lr} must be > 0")
    _require(optim.physics_lr > 0, f"optim.physics_lr={optim.physics_lr} must be > 0")
    _require(optim.weight_decay >= 0, f"optim.weight_decay={optim.weight_decay} must be >= 0")
    _require(0 <= optim.min_lr_ratio <= 1, f"optim.min_lr_ratio={optim.min_lr_ratio} must be within [0, 1]")
    _require(optim.warmup_steps >= 0, f"optim.warmup_steps={optim.warmup_steps} must be >= 0")
    _require(
        trainer.max_steps > 0 or trainer.max_epochs > 0,
        "trainer.max_steps and trainer.max_epochs are both unset; give a step budget (trainer.max_steps=N)",
    )
    _require(
        trainer.accumulate_grad_batches >= 1,
        f"trainer.accumulate_grad_batches={trainer.accumulate_grad_batches} must be >= 1",
    )
    _require(cfg.logger.name in ("mlflow", "none"), f"logger.name={cfg.logger.name!r} must be 'mlflow' or 'none'")


def _validate_embed(cfg: DictConfig) -> None:
    embed = cfg.embed
    _require(embed.name in EMBEDS, f"embed.name={embed.name!r} must be one of {EMBEDS}")
    _require(embed.tokens in TOKENISERS, f"embed.tokens={embed.tokens!r} must be one of {TOKENISERS}")
    if embed.name != "wind_scan":
        _require(embed.tokens == embed.name, f"embed.tokens={embed.tokens!r} contradicts embed.name={embed.name!r}")
        return
    _require(
        len(embed.region) == 2 and all(r >= 1 for r in embed.region),
        f"embed.region={list(embed.region)} must be two positive patch counts [rows, cols]",
    )
    _require(
        embed.order_encoding in ORDER_ENCODINGS,
        f"embed.order_encoding={embed.order_encoding!r} must be one of {ORDER_ENCODINGS}",
    )
    missing = [name for name in ("u", "v") if name not in cfg.data.inputs]
    _require(not missing, f"embed=wind_scan orders tokens by the wind, but data.inputs lacks {missing}")


def _validate_finetune(cfg: DictConfig) -> None:
    from aqnet.finetune.loading import STATISTICS
    from aqnet.finetune.plan import ARCHITECTURE_KEYS, phase_plan
    from aqnet.finetune.source import CHECKPOINTS

    ft = cfg.finetune
    _require(ft.which in CHECKPOINTS, f"finetune.which={ft.which!r} must be one of {CHECKPOINTS}")
    _require(ft.statistics in STATISTICS, f"finetune.statistics={ft.statistics!r} must be one of {STATISTICS}")
    _require(ft.max_new_keys >= 0 and ft.max_new_variables >= 0, "finetune.max_new_keys/max_new_variables must be >= 0")
    unknown = [g for g in ft.allow_changes if g not in ARCHITECTURE_KEYS]
    _require(not unknown, f"finetune.allow_changes {unknown} are not among {list(ARCHITECTURE_KEYS)}")
    _require(
        ft.name == "none" or bool(ft.checkpoint),
        f"finetune={ft.name} starts from a checkpoint: add finetune.checkpoint=<run dir | run id | MLflow run id>",
    )
    phase_plan(cfg)  # raises ConfigError for an impossible plan


def _validate_physics_bias(cfg: DictConfig) -> None:
    bias, depth = cfg.physics_bias, cfg.backbone.depth
    _require(bias.name in PHYSICS_BIASES, f"physics_bias.name={bias.name!r} must be one of {PHYSICS_BIASES}")
    if bias.name == "none":
        return
    _require(bias.direction in DIRECTIONS, f"physics_bias.direction={bias.direction!r} must be one of {DIRECTIONS}")
    _require(bias.wind in WINDS, f"physics_bias.wind={bias.wind!r} must be one of {WINDS}")
    _require(bias.control in CONTROLS, f"physics_bias.control={bias.control!r} must be one of {CONTROLS}")
    _require(bias.backend in BACKENDS, f"physics_bias.backend={bias.backend!r} must be one of {BACKENDS}")
    _require(bias.chunk >= 1, f"physics_bias.chunk={bias.chunk} must be >= 1")
    if bias.backend == "flex":
        _require(
            _trains_on_gpu(cfg),
            f"physics_bias.backend=flex cannot train on {cfg.trainer.accelerator!r}: FlexAttention has no CPU "
            "backward; use physics_bias.backend=chunked (exact, O(N) memory) or trainer.accelerator=gpu on a GPU",
        )
    _require(bias.height_scale_m > 0, f"physics_bias.height_scale_m={bias.height_scale_m} must be > 0")
    blocks = bias.blocks
    valid_blocks = blocks == "all" or (
        OmegaConf.is_list(blocks) and len(blocks) > 0 and all(isinstance(b, int) and 0 <= b < depth for b in blocks)
    )
    _require(valid_blocks, f"physics_bias.blocks={blocks} must be 'all' or a list of block indices in [0, {depth})")
    needed = ["elevation", *(["u", "v"] if bias.name == "adaptive" else [])]
    missing = [name for name in needed if name not in cfg.data.inputs]
    _require(not missing, f"physics_bias={bias.name} reads {missing} (physical units), which data.inputs lacks")


# Plausible ranges of the physical fields the physics reads (elevation in metres above sea level, wind in m/s): a
# store in km or with normalised values would silently turn the bias into noise.
ELEVATION_RANGE_M = (-500.0, 9000.0)
MIN_RELIEF_M = 10.0
MAX_WIND_MS = 150.0


def physics_fields(cfg: DictConfig) -> list[str]:
    """The physical inputs the configured physics reads: elevation for a bias, u and v for wind."""
    bias, embed = cfg.physics_bias.name, cfg.embed.name
    fields = ["elevation"] if bias != "none" else []
    return fields + (["u", "v"] if bias == "adaptive" or embed == "wind_scan" else [])


def validate_physical_ranges(cfg: DictConfig, ranges: Mapping[str, tuple[float, float] | None]) -> None:
    """The store's elevation / wind ranges (canonical units) must be plausible for the physics that reads them."""
    if "elevation" in ranges and ranges["elevation"] is not None:
        lo, hi = ranges["elevation"]
        _require(
            ELEVATION_RANGE_M[0] <= lo and hi <= ELEVATION_RANGE_M[1] and hi - lo >= MIN_RELIEF_M,
            f"variable 'elevation' spans {lo:.4g}..{hi:.4g}, implausible for metres above sea level (expected within "
            f"{ELEVATION_RANGE_M[0]:g}..{ELEVATION_RANGE_M[1]:g} m with at least {MIN_RELIEF_M:g} m of relief): "
            f"physics_bias={cfg.physics_bias.name} needs elevation in metres, not km or normalised values; "
            "fix the store's values or its units attribute",
        )
    for name in ("u", "v"):
        if ranges.get(name) is not None:
            lo, hi = ranges[name]  # type: ignore[misc]
            _require(
                max(abs(lo), abs(hi)) <= MAX_WIND_MS,
                f"variable {name!r} spans {lo:.4g}..{hi:.4g}, implausible for wind in m/s (|{name}| <= "
                f"{MAX_WIND_MS:g}); fix the store's values or its units attribute",
            )


def _trains_on_gpu(cfg: DictConfig) -> bool:
    accelerator = cfg.trainer.accelerator
    if accelerator in ("gpu", "cuda"):
        return True
    if accelerator == "auto":
        import torch

        return torch.cuda.is_available()
    return False


def validate_grid(cfg: DictConfig, grid_shape: tuple[int, int]) -> None:
    """The patch (and wind-scan region) must tile the store's grid; checked once the store's metadata is open."""
    p, (h, w) = cfg.backbone.patch_size, grid_shape
    _require(
        h % p == 0 and w % p == 0,
        f"backbone.patch_size={p} does not divide the grid {h}x{w} of the data store; "
        f"choose a patch size that divides both {h} and {w}",
    )
    if cfg.embed.name == "wind_scan":
        (rows, cols), (gh, gw) = cfg.embed.region, (h // p, w // p)
        _require(
            gh % rows == 0 and gw % cols == 0,
            f"embed.region={[rows, cols]} (patches) does not tile the token grid {gh}x{gw} "
            f"(grid {h}x{w} / patch {p}); choose region rows dividing {gh} and columns dividing {gw}",
        )
