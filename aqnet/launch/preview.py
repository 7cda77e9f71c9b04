"""Show the sbatch script a cluster preset would submit, without submitting anything.

    python -m aqnet.launch.preview cluster=lumi [key=value ...]

Builds the submitit executor exactly as hydra-submitit's launcher does from ``hydra.launcher`` (same parameter
mapping) and prints its submission file, so a new preset can be checked on a laptop.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence

from omegaconf import OmegaConf

from aqnet.config import compose
from aqnet.errors import ConfigError, run_cli
from aqnet.launch.cluster import check_cluster

INIT_KEYS = ("max_num_timeout",)  # hydra-submitit passes these to the executor's constructor


def sbatch_script(overrides: Sequence[str], command: str = "aqnet-train <job>") -> str:
    """The SLURM submission file for ``aqnet-train <overrides>`` with a SLURM cluster preset."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    cfg = compose(overrides, with_hydra=True)
    check_cluster(cfg, submitting=False)
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    if not str(params.get("_target_", "")).endswith("SlurmLauncher"):
        raise ConfigError(f"cluster={cfg.cluster.name} does not submit to SLURM; choose a SLURM preset")
    params.pop("_target_")
    params.pop("submitit_folder")
    params["name"] = "aqnet-train"
    resolved = OmegaConf.to_container(OmegaConf.merge({"cluster": cfg.cluster}, {"p": params}), resolve=True)["p"]
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    with tempfile.TemporaryDirectory() as folder:
        init = {f"slurm_{k}": resolved.pop(k) for k in INIT_KEYS if k in resolved}
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm", **init)
        executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in resolved.items()})
        return executor._executor._make_submission_file_text(command, "preview")  # type: ignore[attr-defined]


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(lambda: print(sbatch_script(list(sys.argv[1:] if argv is None else argv))))


if __name__ == "__main__":
    raise SystemExit(main())
