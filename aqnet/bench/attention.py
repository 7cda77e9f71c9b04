"""`aqnet-bench attention`: one biased attention layer per backend against plain SDPA, per token count and mode.

The layer is :func:`aqnet.models.attention.biased_attention` on q, k, v [batch, heads, N, head_dim] with a physics
bias definition (TopoFlow or adaptive, default parameters) on realistic random elevation / wind
(:func:`aqnet.bench.inputs.token_physics`). ``plain`` is ``F.scaled_dot_product_attention`` without a bias, same
shapes, same process; ``ratio_to_plain`` = median_s / plain's median_s at the same N and mode. Per (N, mode) each
call is warmed up once, then plain and the backends are timed interleaved, repeat by repeat.

Modes: ``fwd`` runs under ``torch.no_grad()`` (inference); ``fwd+bwd`` runs the forward with q, k, v and the bias
parameters (α, β) requiring gradients, then ``backward`` with a fixed random output gradient.

``lowrank`` runs once per ``--ranks`` K (records carry ``rank`` and the measured ``bias_error_max`` /
``bias_error_rms`` per unit α against the exact bias on the same terrain): the K cost sweep. Every measured record
carries ``extra_peak_mb`` = its peak minus plain's at the same N and mode (what the bias costs in memory); after
all N, one ``{"summary": "extra_memory_exponent"}`` record per (backend, rank, mode) gives the least-squares slope
of log(extra_peak_mb) against log(N) over the N with a positive extra peak (1: O(N), 2: O(N²)).

Skipped (a record with ``"skipped": "<reason>"``): ``dense`` above ``--max-dense-tokens`` (it materialises the
[B, H, N, N] scores); ``flex`` on CPU with ``fwd+bwd`` (FlexAttention has no CPU backward) or above the cap (eager
FlexAttention on CPU materialises the scores as well); ``lowrank`` for a bias that is not separable (the adaptive
bias's pair-mean wind: ``--wind``); out-of-memory errors on CUDA.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from aqnet.bench.inputs import token_physics
from aqnet.bench.measure import emit, environment, measure_interleaved, note, prepare_timing, synchronize
from aqnet.models.attention import biased_attention
from aqnet.models.lowrank import bias_error
from aqnet.models.physics import DEFAULT_TOLERANCE, AdaptiveBias, TopoFlowBias

DEFAULT_MAX_DENSE_TOKENS = {"cpu": 4096, "cuda": 16384}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def skip_reason(backend: str, n: int, mode: str, device: str, max_dense: int, bytes_per: int, heads: int) -> str:
    """Why (backend, n, mode) is not run here; "" if it runs."""
    scores = f"{heads * n * n * bytes_per / 2**20:.4g} MiB"
    if backend == "dense" and n > max_dense:
        return (
            f"dense materialises [B,H,N,N] scores ({scores} per sample and copy) above --max-dense-tokens {max_dense}"
        )
    if backend == "flex" and device == "cpu":
        if mode == "fwd+bwd":
            return "FlexAttention has no backward on CPU"
        if n > max_dense:
            return (
                f"flex on CPU runs eagerly and materialises [B,H,N,N] scores ({scores} per sample) "
                f"like dense; above --max-dense-tokens {max_dense}"
            )
    return ""


def _layer(
    backend: str,
    mode: str,
    qkv: tuple[Tensor, Tensor, Tensor],
    grad_out: Tensor,
    bias_def: TopoFlowBias | AdaptiveBias,
    fields: dict[str, Tensor],
    chunk: int,
) -> Callable[[], None]:
    """The call to time: one forward (no grad), or forward + backward."""
    q, k, v = qkv

    def forward() -> Tensor:
        if backend == "plain":
            return F.scaled_dot_product_attention(q, k, v)
        return biased_attention(q, k, v, bias_def, fields, backend=backend, chunk=chunk)

    def call() -> None:
        if mode == "fwd":
            with torch.no_grad():
                forward()
            return
        for t in (q, k, v, *bias_def.parameters()):
            t.grad = None
        forward().backward(grad_out)

    return call


def _warm_up(call: Callable[[], None], device: torch.device) -> str:
    """One untimed call (compiles, caches); the reason it cannot run, or ""."""
    try:
        call()
        synchronize(device)
    except torch.OutOfMemoryError as err:
        torch.cuda.empty_cache()
        return f"out of memory: {' '.join(str(err).split())[:200]}"
    return ""


def _definition(args: argparse.Namespace, rank: int, device: torch.device) -> TopoFlowBias | AdaptiveBias:
    """The bias at lowrank rank ``rank``; every rank is timed (the records say whether it is within tolerance)."""
    if args.bias == "topoflow":
        return TopoFlowBias(rank=rank, tolerance=math.inf).to(device)
    return AdaptiveBias(wind=args.wind, rank=rank, tolerance=math.inf).to(device)


def _cases(args: argparse.Namespace) -> list[tuple[str, int | None]]:
    """(backend, rank) per timed column: plain, then each backend (lowrank once per rank)."""
    cases: list[tuple[str, int | None]] = [("plain", None)]
    for backend in args.backends:
        cases += [(backend, k) for k in args.ranks] if backend == "lowrank" else [(backend, None)]
    return cases


def fitted_exponent(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of log(extra MiB) on log(N) over the points with a positive extra peak."""
    usable = [(math.log(n), math.log(mb)) for n, mb in points if mb is not None and mb > 0]
    if len(usable) < 2:
        return None
    mx, my = (sum(c) / len(usable) for c in zip(*usable, strict=True))
    sxx = sum((x - mx) ** 2 for x, _ in usable)
    return None if sxx == 0 else sum((x - mx) * (y - my) for x, y in usable) / sxx


def run(args: argparse.Namespace) -> None:
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    max_dense = args.max_dense_tokens or DEFAULT_MAX_DENSE_TOKENS[device.type]
    common: dict[str, Any] = {
        "command": "attention",
        **environment(device),
        "dtype": args.dtype,
        "batch": args.batch,
        "heads": args.heads,
        "head_dim": args.head_dim,
        "bias": args.bias,
        "chunk": args.chunk,
        "repeats": args.repeats,
        "max_dense_tokens": max_dense,
    }
    if args.bias == "adaptive":
        common["wind"] = args.wind
    cases = _cases(args)
    definitions = {rank: _definition(args, rank or 16, device) for _, rank in cases}
    gen = torch.Generator(device=device).manual_seed(0)
    prepare_timing(device)
    extra: dict[tuple[str, int | None, str], list[tuple[int, float]]] = {}
    for n in args.tokens:
        physics = {name: f.to(device) for name, f in token_physics(args.batch, n).items()}
        shape = (args.batch, args.heads, n, args.head_dim)
        for mode in args.mode:
            qkv = tuple(
                torch.randn(shape, generator=gen, device=device, dtype=dtype).requires_grad_(mode == "fwd+bwd")
                for _ in range(3)
            )
            grad_out = torch.randn(shape, generator=gen, device=device, dtype=dtype)
            runnable: list[tuple[dict[str, Any], Callable[[], None]]] = []
            for backend, rank in cases:
                bias_def = definitions[rank]
                fields = bias_def.token_fields(physics["elevation"], physics["u"], physics["v"])
                record: dict[str, Any] = {**common, "backend": backend, "n_tokens": n, "mode": mode}
                reason = skip_reason(backend, n, mode, device.type, max_dense, dtype.itemsize, args.heads)
                if backend == "lowrank":
                    record["rank"] = rank
                    reason = reason or (bias_def.separable() or "")
                    if not reason:
                        worst, rms = bias_error(bias_def, fields)
                        within = worst <= DEFAULT_TOLERANCE
                        record |= {"bias_error_max": worst, "bias_error_rms": rms, "within_tolerance": within}
                call = _layer(backend, mode, qkv, grad_out, bias_def, fields, args.chunk)  # type: ignore[arg-type]
                reason = reason or _warm_up(call, device)
                label = backend if rank is None else f"{backend} K={rank}"
                if reason:
                    note(f"attention N={n} {mode} {label}: skipped ({reason})")
                    emit({**record, "skipped": reason})
                else:
                    runnable.append((record, call))
            labels = [r["backend"] + (f" K={r['rank']}" if "rank" in r else "") for r, _ in runnable]
            note(f"attention N={n} {mode}: timing {', '.join(labels)} interleaved")
            results = measure_interleaved([call for _, call in runnable], device, args.repeats, warmup=0)
            plain = results[0] if runnable and runnable[0][0]["backend"] == "plain" else None
            for (record, _), label, result in zip(runnable, labels, results, strict=True):
                ratio = None if plain is None else result.median_s / plain.median_s  # None: plain could not run
                more = None
                if plain is not None and result.peak_mb is not None and plain.peak_mb is not None:
                    more = result.peak_mb - plain.peak_mb
                    extra.setdefault((record["backend"], record.get("rank"), mode), []).append((n, more))
                peak = "n/a" if result.peak_mb is None else f"{result.peak_mb:.0f} MiB"
                versus = "" if ratio is None else f", {ratio:.2f}x plain"
                note(f"attention N={n} {mode} {label}: {result.median_s:.4f} s, peak {peak}{versus}")
                emit({**record, **result.fields(), "ratio_to_plain": ratio, "extra_peak_mb": more})
            del qkv, grad_out, runnable
    for (backend, rank, mode), points in extra.items():
        if backend == "plain":
            continue
        summary = {"summary": "extra_memory_exponent", "backend": backend, "mode": mode, "rank": rank}
        emit({**summary, "n_tokens": [n for n, _ in points], "extra_peak_mb": [mb for _, mb in points],
              "exponent": fitted_exponent(points)})  # fmt: skip
