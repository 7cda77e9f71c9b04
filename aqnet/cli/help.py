"""``--help`` of the Hydra apps, read straight from conf/ (Hydra's own help composes every group option: seconds).

The text comes from the same places Hydra's would: the app's ``hydra.help.header``/``footer`` in its primary
config, the config groups (one folder each, one YAML per option) with the default of each, or — for an app whose
help lists its own keys (aqnet-eval, aqnet-predict) — those keys with their defaults and comments.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

SCHEMA_SUFFIX = "_schema"


def conf_dir() -> Path:
    return Path(str(files("aqnet.conf")))


def _defaults(primary: dict[str, Any]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for entry in primary.get("defaults", []):
        if isinstance(entry, dict):
            for key, value in entry.items():
                if not key.startswith(("override ", "hydra/")):
                    out[key] = value
    return out


def group_options(conf: Path) -> dict[str, list[str]]:
    """Config group → its options (the YAML files of its folder), for every folder of ``conf``."""
    return {
        d.name: sorted(p.stem for p in d.glob("*.yaml"))
        for d in sorted(conf.iterdir())
        if d.is_dir() and not d.name.startswith(("_", "."))
    }


def help_text(config_name: str) -> str:
    conf = conf_dir()
    source = (conf / f"{config_name}.yaml").read_text()
    primary = yaml.safe_load(source)
    help_cfg = primary.get("hydra", {}).get("help", {})
    lines = [help_cfg.get("header", "").replace("$$", "$").rstrip(), ""]
    if "$CONFIG" in help_cfg.get("template", ""):  # an app that lists its own keys
        lines.append("== Keys (key=value) ==")
        lines += [line for line in _own_keys(source)]
    else:
        defaults = _defaults(primary)
        lines.append("== Configuration groups (group=option; [default]) ==")
        for group, options in group_options(conf).items():
            default = defaults.get(group)
            shown = [f"[{o}]" if o == default else o for o in options]
            lines.append(f"{group}: {', '.join(shown)}")
    lines += ["", help_cfg.get("footer", "").replace("$$", "$").rstrip()]
    return "\n".join(lines).strip() + "\n"


def _own_keys(source: str) -> list[str]:
    """The primary config's top-level keys with their values and comments, as written (defaults and hydra left out)."""
    out, skipping = [], False
    for line in source.splitlines():
        top = line[:1] not in (" ", "#", "") and ":" in line
        if top:
            skipping = line.split(":", 1)[0] in ("defaults", "hydra")
        if not skipping and line.strip() and not line.startswith("#"):
            out.append(line)
    return out


def print_help(config_name: str) -> None:
    print(help_text(config_name), end="")
