"""The training side of freeze phases: switching the trainable parameters at optimiser-step boundaries."""

from __future__ import annotations

import lightning as L

from aqnet.finetune.phases import PhasePlan


class FreezePhases(L.Callback):
    """Switches phases at optimizer-step boundaries, prints and logs each change (``finetune/phase``)."""

    def __init__(self, plan: PhasePlan) -> None:
        self.plan = plan
        self.current: int | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        batches = trainer.num_training_batches
        per_epoch = max(1, int(batches) // trainer.accumulate_grad_batches) if batches != float("inf") else None
        self.plan.resolve(per_epoch)
        self._switch(trainer, pl_module)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: object, idx: int) -> None:
        self._switch(trainer, pl_module)

    def _switch(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        step = trainer.global_step
        index = self.plan.index_at(step)
        if index == self.current:
            return
        self.current = index
        trainable, frozen = self.plan.apply(pl_module.model, step)  # type: ignore[arg-type]
        phase = self.plan.phases[index]
        lr = f"lr {phase.lr:g}" if phase.lr is not None else "the optimiser's lr"
        message = (
            f"fine-tune phase {index + 1}/{len(self.plan.phases)} '{phase.name}' from step {step}: "
            f"{trainable:,} parameters train, {frozen:,} frozen, {lr}"
        )
        if trainer.is_global_zero:
            print(message, flush=True)
        if trainer.logger is not None:
            trainer.logger.log_metrics({"finetune/phase": float(index + 1)}, step=step)
