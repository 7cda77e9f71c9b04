"""Seeded, name-keyed parameter initialisation.

Every parameter draws from its own ``torch.Generator`` seeded by (seed, parameter name), so a model's initial
values depend only on the seed and on each parameter's own name and shape: adding a module (a physics bias, an
extra block) leaves every other parameter's initial value unchanged, and runs are reproducible without touching
the global RNG. Per-variable tokeniser weights are keyed by *variable name*, so the serial and the parallel
tokeniser start identical and adding an input variable does not move the others.

Rules (ClimaX's, with timm's trunc-normal truncated at ±2 std): Linear / Conv weights trunc-normal std 0.02,
biases 0; LayerNorm weight 1, bias 0; ``var_agg.in_proj_weight`` Xavier-uniform (nn.MultiheadAttention's default);
fixed values (sin-cos embeddings, the zero query) as given. Buffers (the Normaliser's statistics) are never
touched. Parameters no rule covers keep their constructor values and are reported, so a new module either
initialises itself deterministically or gets a rule here.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping

import torch
from torch import Tensor, nn

from aqnet.models.embed import ParallelVariableEmbed, SerialVariableEmbed, VariableAggregation

WEIGHT_STD = 0.02


def generator_for(seed: int, key: str) -> torch.Generator:
    """A CPU generator seeded from a stable hash of (``seed``, ``key``) (crc32: the same in every process).

    The CPU generator (mt19937) keeps only the low 32 bits of its seed, so seed and key are hashed together
    into 32 bits rather than packed side by side.
    """
    return torch.Generator(device="cpu").manual_seed(zlib.crc32(f"{seed}:{key}".encode()))


def _trunc_normal(shape: torch.Size, gen: torch.Generator) -> Tensor:
    out = torch.empty(shape)
    return nn.init.trunc_normal_(out, std=WEIGHT_STD, a=-2 * WEIGHT_STD, b=2 * WEIGHT_STD, generator=gen)


def _xavier_uniform(shape: torch.Size, gen: torch.Generator) -> Tensor:
    return nn.init.xavier_uniform_(torch.empty(shape), generator=gen)


@torch.no_grad()
def init_parameters(model: nn.Module, seed: int, fixed: Mapping[str, Tensor] | None = None) -> list[str]:
    """Initialise ``model``'s parameters in place; returns the names left at their constructor values.

    ``fixed`` maps full parameter names to deterministic initial values (sin-cos embeddings, zero query).
    Parameters on the meta device are skipped (used for counting without allocating).
    """
    fixed = dict(fixed or {})
    done: set[str] = set()

    def assign(name: str, param: Tensor, make: Callable[[], Tensor]) -> None:
        if not param.is_meta:
            param.copy_(make().to(param.dtype))
        done.add(name)

    for name, value in fixed.items():
        assign(name, model.get_parameter(name), lambda value=value: value)

    for module_name, module in model.named_modules():
        prefix = f"{module_name}." if module_name else ""
        if isinstance(module, SerialVariableEmbed | ParallelVariableEmbed):
            _init_variable_embed(module, prefix, seed, assign)
            continue
        for local, param in module.named_parameters(recurse=False):
            name = prefix + local
            if name in done:
                continue
            shape = param.shape
            if isinstance(module, nn.LayerNorm):
                value = 1.0 if local == "weight" else 0.0
                assign(name, param, lambda shape=shape, value=value: torch.full(shape, value))
            elif local == "bias" or (isinstance(module, VariableAggregation) and local == "in_proj_bias"):
                assign(name, param, lambda shape=shape: torch.zeros(shape))
            elif isinstance(module, VariableAggregation) and local == "in_proj_weight":
                gen = generator_for(seed, name)
                assign(name, param, lambda shape=shape, gen=gen: _xavier_uniform(shape, gen))
            elif isinstance(module, nn.Linear | nn.Conv2d) and local == "weight":
                gen = generator_for(seed, name)
                assign(name, param, lambda shape=shape, gen=gen: _trunc_normal(shape, gen))

    return [name for name, _ in model.named_parameters() if name not in done]


def _init_variable_embed(
    embed: SerialVariableEmbed | ParallelVariableEmbed,
    prefix: str,
    seed: int,
    assign: Callable[[str, Tensor, Callable[[], Tensor]], None],
) -> None:
    """Each variable's projection from a generator keyed by the variable's name, not its position."""
    p, d = embed.patch_size, embed.embed_dim
    weights = {
        v: _trunc_normal(torch.Size((d, 1, p, p)), generator_for(seed, f"{prefix}{v}.weight")) for v in embed.variables
    }
    if isinstance(embed, SerialVariableEmbed):
        for i, v in enumerate(embed.variables):
            assign(f"{prefix}{i}.proj.weight", embed[i].proj.weight, lambda w=weights[v]: w)
            assign(f"{prefix}{i}.proj.bias", embed[i].proj.bias, lambda: torch.zeros(d))
    else:
        assign(f"{prefix}proj_weights", embed.proj_weights, lambda: torch.stack(list(weights.values())))
        assign(f"{prefix}proj_biases", embed.proj_biases, lambda: torch.zeros(embed.proj_biases.shape))
