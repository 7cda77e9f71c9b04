"""`aqnet-bench attention`: one biased attention layer per backend against plain SDPA, per token count and mode.

The layer is :func:`aqnet.models.attention.biased_attention` on q, k, v [batch, heads, N, head_dim] with a physics
bias definition (TopoFlow or adaptive, default parameters) on realistic random elevation / wind
(:func:`aqnet.bench.inputs.token_physics`). ``plain`` is ``F.scaled_dot_product_attention`` without a bias, same
shapes, same process; ``ratio_to_plain`` = median_s / plain's median_s at the same N and mode. Per (N, mode) each
call is warmed up once, then plain and the backends are timed interleaved, repeat by repeat.

Modes: ``fwd`` runs under ``torch.no_grad()`` (inference); ``fwd+bwd`` runs the forward with q, k, v and the bias
parameters (α, β) requiring gradients, then ``backward`` with a fixed random output gradient.

Skipped (a record with ``"skipped": "<reason>"``): ``dense`` above ``--max-dense-tokens`` (it materialises the
[B, H, N, N] scores); ``flex`` on CPU with ``fwd+bwd`` (FlexAttention has no CPU backward) or above the cap (eager
FlexAttention on CPU materialises the scores as well); out-of-memory errors on CUDA.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from aqnet.bench.inputs import token_physics
from aqnet.bench.measure import emit, environment, measure_interleaved, note, prepare_timing, synchronize
from aqnet.models.attention import biased_attention
from aqnet.models.physics import AdaptiveBias, TopoFlowBias

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
    bias_def = (TopoFlowBias() if args.bias == "topoflow" else AdaptiveBias()).to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    prepare_timing(device)
    for n in args.tokens:
        physics = {name: f.to(device) for name, f in token_physics(args.batch, n).items()}
        fields = bias_def.token_fields(physics["elevation"], physics["u"], physics["v"])
        shape = (args.batch, args.heads, n, args.head_dim)
        for mode in args.mode:
            qkv = tuple(
                torch.randn(shape, generator=gen, device=device, dtype=dtype).requires_grad_(mode == "fwd+bwd")
                for _ in range(3)
            )
            grad_out = torch.randn(shape, generator=gen, device=device, dtype=dtype)
            runnable: list[tuple[str, Callable[[], None]]] = []
            for backend in ("plain", *args.backends):
                record = {**common, "backend": backend, "n_tokens": n, "mode": mode}
                reason = skip_reason(backend, n, mode, device.type, max_dense, dtype.itemsize, args.heads)
                call = _layer(backend, mode, qkv, grad_out, bias_def, fields, args.chunk)  # type: ignore[arg-type]
                reason = reason or _warm_up(call, device)
                if reason:
                    note(f"attention N={n} {mode} {backend}: skipped ({reason})")
                    emit({**record, "skipped": reason})
                else:
                    runnable.append((backend, call))
            note(f"attention N={n} {mode}: timing {', '.join(b for b, _ in runnable)} interleaved")
            results = measure_interleaved([call for _, call in runnable], device, args.repeats, warmup=0)
            plain = results[0].median_s if runnable and runnable[0][0] == "plain" else None
            for (backend, _), result in zip(runnable, results, strict=True):
                ratio = None if plain is None else result.median_s / plain  # None: plain itself could not run
                peak = "n/a" if result.peak_mb is None else f"{result.peak_mb:.0f} MiB"
                versus = "" if ratio is None else f", {ratio:.2f}x plain"
                note(f"attention N={n} {mode} {backend}: {result.median_s:.4f} s, peak {peak}{versus}")
                emit(
                    {
                        **common,
                        "backend": backend,
                        "n_tokens": n,
                        "mode": mode,
                        **result.fields(),
                        "ratio_to_plain": ratio,
                    }
                )
            del qkv, grad_out, runnable
