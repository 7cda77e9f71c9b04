"""Two CPU ranks (gloo) each finish their own local days of the daily scores; rank 0 writes the synced scores and
per-day rows. Run as a script in a fresh interpreter (``python -m tests.tasks.forecast.ddp_daily OUT``)."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from aqnet.tasks.forecast.daily import DailyScores, expected_days
from tests.gloo import run_two_ranks

DAY = 86_400
T0 = 17_000 * DAY - 8 * 3600  # a local (UTC+8) midnight
INITS = torch.tensor([T0 + d * DAY + h * 3600 for d in range(4) for h in (3, 15)])  # two inits a day, 4 days
LEADS = torch.full((len(INITS),), 24.0)


def fields(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(truth, model) of sample k [1, 1, 1, 2]: exceedances that differ from day to day."""
    g = torch.Generator().manual_seed(k)
    truth = 40 + 80 * torch.rand(1, 1, 1, 2, generator=g)
    return truth, truth + 30 * torch.randn(1, 1, 1, 2, generator=g)


def daily() -> DailyScores:
    expected = expected_days(INITS.numpy(), LEADS.numpy().astype(int), 8.0)
    return DailyScores(["pm25"], [24], torch.tensor([0.0]), ("model",), expected)


def feed(scores: DailyScores, items: list[int]) -> None:
    for k in items:
        truth, model = fields(k)
        ok = torch.ones_like(truth, dtype=torch.bool)
        scores.update({"model": model}, {"model": ok}, truth, ok, INITS[k : k + 1], LEADS[k : k + 1])


def worker(rank: int, world: int, out: Path) -> None:
    scores = daily()
    feed(scores, [k for k in range(len(INITS)) if (k // 2) % world == rank])  # whole days per rank
    result, frame = scores.scores("test"), scores.frame()
    if rank == 0:
        (out / "ranks.json").write_text(json.dumps({"scores": result, "days": len(frame)}))


if __name__ == "__main__":
    run_two_ranks(worker)
