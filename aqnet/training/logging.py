"""What every task logs during training besides its loss: the physics parameters and the gradient norm."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import nn

from aqnet.models.config import PHYSICS_PARAMETER

LOGGED_PHYSICS = ("alpha", "beta")


def log_physics_parameters(module: L.LightningModule, model: nn.Module, batch_size: int) -> None:
    """``physics/alpha`` (and ``physics/beta`` when learned): the mean over the physics parameters of that name;
    each one by full name as well when there are several."""
    for short in LOGGED_PHYSICS:
        params = [
            (n, p)
            for n, p in model.named_parameters()
            if PHYSICS_PARAMETER.search(n) and n.rsplit(".", 1)[-1].rsplit("_", 1)[-1] == short
        ]
        if not params:
            continue
        values = {n: p.detach().float().mean() for n, p in params}
        mean = torch.stack(list(values.values())).mean()
        module.log(f"physics/{short}", mean, on_step=True, on_epoch=False, batch_size=batch_size)
        if len(values) > 1:
            for n, v in values.items():
                module.log(f"physics/{n}", v, on_step=True, on_epoch=False, batch_size=batch_size)


class GradNormLogger(Callback):
    """``train/grad_norm``: the total 2-norm of all gradients before clipping, every optimiser step."""

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: Any) -> None:
        grads = [p.grad.detach() for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        if not grads:
            return
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
        pl_module.log("train/grad_norm", norm, on_step=True, on_epoch=False, batch_size=1)
