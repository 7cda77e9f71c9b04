"""`aqnet-train`: train and test one forecaster; `-m` runs a sweep.

aqnet-train                                     the default: tiny benchmark, tiny backbone, a few CPU minutes
aqnet-train backbone=climax_base seed=1        any key=value override (see docs/configuration.md)
aqnet-train -m physics_bias=none,topoflow seed=0,1,2
"""

from __future__ import annotations

import os
import sys

import hydra
from omegaconf import DictConfig

from aqnet.cli.hydra_app import run_hydra_app, user_errors_as_one_line


@hydra.main(version_base="1.3", config_path="pkg://aqnet.conf", config_name="config")
@user_errors_as_one_line
def _app(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    from aqnet.config.validate import validate_config
    from aqnet.finetune.plan import adopt_architecture

    # a wrong checkpoint or architecture fails here; the run may adopt the checkpoint's architecture, and the
    # result is validated once — all before the heavy imports below, so a config error is reported at once
    finetune = adopt_architecture(cfg, HydraConfig.get().overrides.task)
    task = validate_config(cfg).task
    from aqnet.train import train

    return train(cfg, finetune).get(task.monitor)


def main() -> int:
    from aqnet.config.resolvers import SUBMIT_TIME_ENV, export_submit_time
    from aqnet.training.console import quiet_launcher

    resume = [a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("resume_sweep=")]
    if resume:  # the rerun takes the sweep's identity: every job finds its own run directory again
        os.environ[SUBMIT_TIME_ENV] = resume[-1]
    export_submit_time()  # before Hydra composes: every job this call launches inherits the same identity
    quiet_launcher()
    return run_hydra_app(_app)


if __name__ == "__main__":
    raise SystemExit(main())
