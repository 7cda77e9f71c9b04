"""Typed configuration: the schema Hydra composes into, and the checks that need more than types."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig

from aqnet.config.resolvers import register_resolvers
from aqnet.config.schema import RunConfig, register_schema
from aqnet.config.validate import validate_config

__all__ = ["RunConfig", "compose", "register_resolvers", "register_schema", "validate_config"]


def compose(overrides: Sequence[str] = (), with_hydra: bool = False) -> DictConfig:
    """The run config as `aqnet-train <overrides>` would compose it (outside a Hydra app: no hydra.* runtime;
    ``with_hydra`` keeps the ``hydra`` node, e.g. the launcher settings)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    register_schema()
    register_resolvers()
    with initialize_config_module("aqnet.conf", version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides), return_hydra_config=with_hydra)
