"""Saved run configs of earlier aqnet versions, brought to the current schema's layout.

A run directory keeps its resolved ``config.yaml``; aqnet-eval, aqnet-predict and fine-tuning read it back. When a
key moved, the old layout is rewritten here (one function, one place), so an old run stays usable.
"""

from __future__ import annotations

from typing import Any

# scheduler keys that used to live under optim (before the optim and scheduler groups)
_SCHEDULE_KEYS = ("warmup_steps", "min_lr_ratio")


def upgrade_config(saved: dict[str, Any]) -> dict[str, Any]:
    """``saved`` (a plain dict of a run's config.yaml) in the current layout; a current config is returned as is."""
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in saved.items()}
    data = cfg.get("data", {})
    if "task" not in cfg:  # before tasks were plug-ins: every run was a forecast
        task: dict[str, Any] = {"_target_": "aqnet.tasks.forecast.module.ForecastModule", "name": "forecast"}
        for key in ("targets", "lead_hours"):
            if key in data:
                task[key] = data.pop(key)
        cfg["task"] = task
    cfg.setdefault("model", {"_target_": "aqnet.models.climax.Forecaster", "name": "climax"})
    optim = cfg.get("optim", {})
    if "_target_" not in optim and optim:
        scheduler = {k: optim.pop(k) for k in _SCHEDULE_KEYS if k in optim}
        optim.update({"_target_": "torch.optim.AdamW", "name": "adamw"})
        cfg.setdefault("scheduler", {"_target_": "torch.optim.lr_scheduler.LambdaLR", "name": "cosine", **scheduler})
    trainer = cfg.get("trainer", {})
    if "early_stopping_patience" in trainer:
        trainer["early_stopping"] = {"patience": trainer.pop("early_stopping_patience")}
    return cfg
