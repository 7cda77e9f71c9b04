"""Where weights come from: `run=` / `finetune.checkpoint=` resolved to a checkpoint file, read safely.

A reference is a run directory, a run id (a directory under <root>/runs), an MLflow run id (looked up by its
``run_dir`` tag in the store under <root>, never creating a store) or a ``.ckpt`` file. ``which`` picks the
run's ``best`` or ``last`` checkpoint. Files are read with ``torch.load(weights_only=True)``: a pickle that would
run code is refused, never executed.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from aqnet.config.upgrade import upgrade_config
from aqnet.errors import ConfigError, DataError

if TYPE_CHECKING:
    import torch

from aqnet.finetune.config import CHECKPOINTS  # noqa: F401  (re-exported)

_MLFLOW_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class RunReference:
    checkpoint: Path
    run_dir: Path | None  # None for a bare checkpoint outside a run directory
    which: str  # best | last | file

    def config(self) -> dict[str, Any] | None:
        """The run's resolved config (the ``config.yaml`` sidecar), if the checkpoint sits in a run directory."""
        if self.run_dir is None or not (self.run_dir / "config.yaml").exists():
            return None
        return upgrade_config(yaml.safe_load((self.run_dir / "config.yaml").read_text()))

    def choices(self) -> dict[str, str]:
        """The run's config-group choices (Hydra's record in ``.hydra/hydra.yaml``), if present."""
        record = self.run_dir / ".hydra" / "hydra.yaml" if self.run_dir is not None else None
        if record is None or not record.exists():
            return {}
        hydra = yaml.safe_load(record.read_text()).get("hydra", {})
        return {k: str(v) for k, v in hydra.get("runtime", {}).get("choices", {}).items() if v is not None}


def resolve_run(spec: str, root: Path, which: str = "best", key: str = "finetune.checkpoint") -> RunReference:
    """The checkpoint that ``spec`` names; one ConfigError line (naming ``key``) if there is none."""
    if which not in CHECKPOINTS:
        raise ConfigError(f"{key}: which checkpoint {which!r} must be one of {CHECKPOINTS}")
    path = Path(spec).expanduser()
    if path.is_file():
        run_dir = path.parent.parent if path.parent.name == "checkpoints" else None
        return RunReference(path.resolve(), run_dir.resolve() if run_dir else None, "file")
    if not path.is_dir() and (root / "runs" / spec).is_dir():
        path = root / "runs" / spec
    elif not path.is_dir() and _MLFLOW_RUN_ID.match(spec):
        path = _run_dir_from_mlflow(spec, root, key)
    if not path.is_dir():
        raise ConfigError(
            f"{key}={spec}: no such checkpoint file, run directory, run id under {root / 'runs'} or MLflow run id"
        )
    checkpoint = path / "checkpoints" / f"{which}.ckpt"
    if not checkpoint.is_file():
        found = sorted(p.name for p in (path / "checkpoints").glob("*.ckpt")) if (path / "checkpoints").is_dir() else []
        raise ConfigError(f"{key}={spec}: the run has no {which} checkpoint ({checkpoint}); found {found or 'none'}")
    return RunReference(checkpoint.resolve(), path.resolve(), which)


def _run_dir_from_mlflow(run_id: str, root: Path, key: str) -> Path:
    db = root / "mlflow.db"
    if not db.exists():
        raise ConfigError(f"{key}={run_id}: looks like an MLflow run id, but there is no MLflow store at {db}")
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        run = mlflow.MlflowClient(f"sqlite:///{db}").get_run(run_id)
    except MlflowException:
        raise ConfigError(f"{key}={run_id}: unknown MLflow run id in {db}") from None
    run_dir = run.data.tags.get("run_dir")
    if not run_dir:
        raise ConfigError(f"{key}={run_id}: MLflow run has no run_dir tag (not an aqnet-train run)")
    return Path(run_dir)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint's contents, tensors on CPU, loaded without executing pickled code."""
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist")
    with path.open("rb") as f:
        magic = f.read(4)
    if not (magic.startswith(b"PK") or magic.startswith(b"\x80")):  # a torch zip archive or a legacy pickle
        raise DataError(f"{path} is not a readable PyTorch checkpoint (neither a torch archive nor a pickle)")
    import torch

    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        lines = [line.strip() for line in str(err).splitlines() if "global" in line.lower()]
        detail = lines[0].split(" Please")[0] if lines else "content other than tensors and plain containers"
        raise DataError(
            f"checkpoint {path} holds objects that are not plain weights and was not loaded (weights_only): {detail}"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{path} is not a readable PyTorch checkpoint: {str(err).splitlines()[0]}") from None
    if not isinstance(content, dict):
        raise DataError(f"{path} is not a checkpoint (a {type(content).__name__}, not a dict of weights)")
    return content


def model_state(content: dict[str, Any], path: Path) -> dict[str, torch.Tensor]:
    """The Forecaster's state dict inside a checkpoint: Lightning's ``state_dict`` with the ``model.`` prefix
    removed, or a plain state dict."""
    import torch

    state = content.get("state_dict", content)
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"checkpoint {path} contains no model weights")
    prefix = "model."
    if any(k.startswith(prefix) for k in state):
        return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    return dict(state)
