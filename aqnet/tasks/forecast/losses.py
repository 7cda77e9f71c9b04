"""Training loss: latitude-weighted MSE over valid pixels, in normalised units."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

from aqnet.evaluation.weights import latitude_weights


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class LatWeightedMSE(nn.Module):
    """loss = Σ w·valid·(pred − target)² / Σ w·valid, with w(lat) = cos(lat)/mean(cos(lat)).

    The denominator is the *global* weighted count of valid pixels: under torch.distributed it is summed across
    ranks, and the returned value is multiplied by the world size because DDP averages gradients over ranks.
    The averaged gradient is then that of Σ_ranks num / Σ_ranks den, so a rank with few valid pixels is not
    over-weighted. With one process (or ``distributed=False``) this is the plain weighted mean.
    """

    def __init__(self, lat: Tensor, distributed: bool = True) -> None:
        super().__init__()
        self.distributed = distributed
        # [H, 1] broadcasts over [B, V, H, W]; not persistent: derived from lat, which the data module provides
        self.register_buffer("weights", latitude_weights(lat)[:, None], persistent=False)

    def terms(self, pred: Tensor, target: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """(Σ w·valid·err², Σ w·valid) for this process only; shapes [B, V, H, W] in, scalars out."""
        if pred.shape != target.shape or pred.shape != valid.shape:
            raise ValueError(
                f"pred {tuple(pred.shape)}, target {tuple(target.shape)} and valid {tuple(valid.shape)} differ"
            )
        if pred.shape[-2] != self.weights.shape[0]:
            raise ValueError(f"pred has {pred.shape[-2]} latitudes but the loss was built for {self.weights.shape[0]}")
        valid = valid.bool()
        # where(), not multiply: invalid targets may be NaN/inf after normalisation and NaN·0 = NaN; zeroing the
        # target first also keeps the gradient at invalid pixels exactly 0
        target = torch.where(valid, target, torch.zeros_like(target))
        sq = torch.where(valid, (pred - target).square(), torch.zeros_like(pred))
        w = self.weights.to(pred.dtype)
        num = (sq * w).sum()
        den = (valid.to(pred.dtype) * w).sum()
        return num, den

    def forward(self, pred: Tensor, target: Tensor, valid: Tensor) -> Tensor:
        num, den = self.terms(pred, target, valid)
        world = _world_size() if self.distributed else 1
        if world > 1:
            den = den.detach().clone()  # a count: no gradient flows through it
            dist.all_reduce(den, op=dist.ReduceOp.SUM)
        # no valid pixel anywhere: num is 0 too, so the loss is 0 with a (zero) gradient graph intact
        return num * world / den.clamp_min(torch.finfo(den.dtype).tiny)
