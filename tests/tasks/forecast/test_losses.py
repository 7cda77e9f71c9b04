"""Latitude-weighted MSE on valid pixels (normalised units)."""

from __future__ import annotations

import math
import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from aqnet.evaluation.weights import latitude_weights
from aqnet.tasks.forecast.losses import LatWeightedMSE

LAT = torch.tensor([0.0, 60.0])  # cos = 1, 0.5 → mean 0.75 → w = 4/3, 2/3


def test_latitude_weights_have_mean_one():
    w = latitude_weights(LAT)
    assert torch.allclose(w, torch.tensor([4 / 3, 2 / 3]))
    assert torch.allclose(latitude_weights(LAT, normalise=False), torch.tensor([1.0, 0.5]))


def test_loss_matches_hand_computed_value():
    pred = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])  # [1, 1, 2, 2]
    target = torch.tensor([[[[0.0, 2.0], [1.0, 1.0]]]])
    valid = torch.ones_like(pred, dtype=torch.bool)
    # squared errors: row lat0: 1, 0 (w 4/3); row lat60: 4, 9 (w 2/3)
    expected = (4 / 3 * (1 + 0) + 2 / 3 * (4 + 9)) / (4 / 3 * 2 + 2 / 3 * 2)
    assert LatWeightedMSE(LAT)(pred, target, valid).item() == pytest.approx(expected)


def test_invalid_pixels_do_not_count_even_when_nan():
    pred = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], requires_grad=True)
    target = torch.tensor([[[[0.0, float("nan")], [1.0, float("inf")]]]])
    valid = torch.tensor([[[[True, False], [True, False]]]])
    loss = LatWeightedMSE(LAT)(pred, target, valid)
    expected = (4 / 3 * 1 + 2 / 3 * 4) / (4 / 3 + 2 / 3)
    assert loss.item() == pytest.approx(expected)
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    assert pred.grad[0, 0, 0, 1] == 0 and pred.grad[0, 0, 1, 1] == 0


def test_latitude_weighting_scales_errors_by_cos_lat():
    loss_fn = LatWeightedMSE(LAT)
    valid = torch.ones(1, 1, 2, 2, dtype=torch.bool)
    target = torch.zeros(1, 1, 2, 2)
    err_equator = torch.zeros(1, 1, 2, 2)
    err_equator[..., 0, :] = 1.0
    err_60 = torch.zeros(1, 1, 2, 2)
    err_60[..., 1, :] = 1.0
    # the same error counts twice as much at the equator as at 60°
    assert loss_fn(err_equator, target, valid).item() == pytest.approx(2 * loss_fn(err_60, target, valid).item())


def test_no_valid_pixel_gives_zero_with_gradient():
    pred = torch.ones(2, 1, 2, 2, requires_grad=True)
    loss = LatWeightedMSE(LAT)(pred, torch.zeros_like(pred), torch.zeros_like(pred, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(pred.grad, torch.zeros_like(pred))


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="latitudes"):
        LatWeightedMSE(LAT)(torch.zeros(1, 1, 3, 2), torch.zeros(1, 1, 3, 2), torch.ones(1, 1, 3, 2, dtype=bool))


def _fields():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(4, 2, 2, 3, generator=g)
    target = torch.randn(4, 2, 2, 3, generator=g)
    valid = torch.rand(4, 2, 2, 3, generator=g) > 0.3
    valid[2:] &= torch.rand(2, 2, 2, 3, generator=g) > 0.6  # rank 1 sees far fewer valid pixels
    return pred, target, valid


def _rank_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    pred, target, valid = _fields()
    sl = slice(2 * rank, 2 * rank + 2)
    p = pred[sl].clone().requires_grad_(True)
    loss = LatWeightedMSE(LAT)(p, target[sl], valid[sl])
    loss.backward()
    grad = p.grad.clone()
    # what DDP does: average gradients across ranks; each rank's slice is its own, so gather to compare
    full = [torch.zeros_like(grad) for _ in range(world)]
    dist.all_gather(full, grad / world)
    logged = loss.detach().clone()
    dist.all_reduce(logged)  # Lightning's sync_dist mean = sum / world
    if rank == 0:
        torch.save({"grad": torch.cat(full), "loss": logged / world}, os.path.join(out_dir, "out.pt"))
    dist.destroy_process_group()


def test_ddp_denominator_is_global_across_ranks_with_different_valid_counts():
    pred, target, valid = _fields()
    p = pred.clone().requires_grad_(True)
    reference = LatWeightedMSE(LAT)(p, target, valid)  # one process holding every sample
    reference.backward()
    with tempfile.TemporaryDirectory() as tmp:
        # fork, not spawn: children reuse the imported torch (spawn costs ~15 s of imports)
        mp.start_processes(_rank_worker, args=(2, os.path.join(tmp, "init"), tmp), nprocs=2, start_method="fork")
        out = torch.load(os.path.join(tmp, "out.pt"))
    assert out["loss"].item() == pytest.approx(reference.item(), rel=1e-5)
    assert torch.allclose(out["grad"], p.grad, atol=1e-6)
    # and the naive per-rank mean would have been different (so the test can tell)
    naive = [LatWeightedMSE(LAT, distributed=False)(pred[s], target[s], valid[s]) for s in (slice(0, 2), slice(2, 4))]
    assert not math.isclose(sum(naive).item() / 2, reference.item(), rel_tol=1e-3)
