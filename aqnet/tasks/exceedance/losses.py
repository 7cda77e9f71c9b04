"""The combo loss of an imbalanced binary mask: w_bce·BCE + w_dice·Dice + w_focal·focal, masked and area-weighted.

Every part is a ratio of sums over the valid pixels (the store's mask and missing targets are ignored, like an
ignore index), with area weights w = cos(lat):

- BCE = Σ w·[−pw·y·log p − (1 − y)·log(1 − p)] / Σ w (``pos_weight`` pw, as torch's ``BCEWithLogitsLoss``);
- focal = Σ w·α_t·(1 − p_t)^γ·BCE_t / Σ w, α_t = α for positives and 1 − α for negatives (torchvision's
  ``sigmoid_focal_loss``);
- Dice, batch-pooled per channel (segmentation_models_pytorch's binary ``DiceLoss``):
  1 − (2 Σ w·p·y + s) / (Σ w·p + Σ w·y + s), a channel with no positive in the batch contributing 0.

Because every part is made of sums, an epoch's loss pools exactly (:meth:`ComboLoss.terms` then
:meth:`ComboLoss.combine` on the epoch's sums); training uses the same two steps on one batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aqnet.evaluation.weights import latitude_weights

SUMS = ("weight", "bce", "focal", "intersection", "prob", "label")  # each [C]


class ComboLoss(nn.Module):
    """Args: lat [H] degrees; weights {bce, dice, focal}; pos_weight and focal_alpha per channel [C] (floats or
    sequences); focal_gamma γ ≥ 0; dice_smooth s."""

    def __init__(
        self,
        lat: Tensor,
        weights: Mapping[str, float],
        pos_weight: Sequence[float],
        focal_alpha: Sequence[float],
        focal_gamma: float = 2.0,
        dice_smooth: float = 0.0,
    ) -> None:
        super().__init__()
        self.weights = {k: float(weights[k]) for k in ("bce", "dice", "focal")}
        self.focal_gamma = float(focal_gamma)
        self.dice_smooth = float(dice_smooth)
        self.register_buffer("area", latitude_weights(lat)[:, None], persistent=False)
        self.register_buffer("pos_weight", torch.as_tensor(pos_weight, dtype=torch.float32), persistent=False)
        self.register_buffer("focal_alpha", torch.as_tensor(focal_alpha, dtype=torch.float32), persistent=False)

    def terms(self, logits: Tensor, labels: Tensor, valid: Tensor) -> dict[str, Tensor]:
        """The sums of :data:`SUMS`, each [C], over the valid pixels of ``logits``, ``labels`` [B, C, H, W]."""
        if logits.shape != labels.shape or logits.shape != valid.shape:
            raise ValueError(f"logits {tuple(logits.shape)}, labels {tuple(labels.shape)}, valid {tuple(valid.shape)}")
        valid = valid.bool()
        logits = logits.float()
        y = torch.where(valid, labels.float(), torch.zeros_like(logits))
        z = torch.where(valid, logits, torch.zeros_like(logits))  # no NaN/inf leaks from ignored pixels
        w = torch.where(valid, self.area.to(z.dtype).expand_as(z), torch.zeros_like(z))
        pw = self.pos_weight.to(z.dtype)[None, :, None, None]
        alpha = self.focal_alpha.to(z.dtype)[None, :, None, None]
        bce_t = F.binary_cross_entropy_with_logits(z, y, reduction="none")  # −log p_t
        bce = torch.where(y > 0.5, pw * bce_t, bce_t)
        p = torch.sigmoid(z)
        p_t = torch.where(y > 0.5, p, 1 - p)
        alpha_t = torch.where(y > 0.5, alpha, 1 - alpha)
        focal = alpha_t * (1 - p_t).pow(self.focal_gamma) * bce_t
        dims = (0, 2, 3)
        return {
            "weight": w.sum(dims),
            "bce": (w * bce).sum(dims),
            "focal": (w * focal).sum(dims),
            "intersection": (w * p * y).sum(dims),
            "prob": (w * p).sum(dims),
            "label": (w * y).sum(dims),
        }

    def combine(self, sums: Mapping[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """(total, {bce, dice, focal}) from sums (one batch's or an epoch's); each part averaged over channels."""
        tiny = torch.finfo(torch.float32).tiny
        weight = sums["weight"].clamp_min(tiny)
        denominator = (sums["prob"] + sums["label"] + self.dice_smooth).clamp_min(1e-7)
        dice = 1 - (2 * sums["intersection"] + self.dice_smooth) / denominator
        dice = torch.where(sums["label"] > 0, dice, torch.zeros_like(dice))  # smp: absent channels contribute 0
        parts = {"bce": sums["bce"] / weight, "dice": dice, "focal": sums["focal"] / weight}
        parts = {k: v.mean() for k, v in parts.items()}
        total = sum(self.weights[k] * parts[k] for k in parts)
        return total, parts  # type: ignore[return-value]

    def forward(self, logits: Tensor, labels: Tensor, valid: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return self.combine(self.terms(logits, labels, valid))
