"""`aqnet-eval`: score a finished run's checkpoint, print the table, write plots, log to the run's MLflow run.

aqnet-eval run=<run dir | run id | MLflow run id>                  test split, best checkpoint
aqnet-eval run=<run> split=val checkpoint=last regions={}          no region boxes
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from aqnet.cli.hydra_app import run_hydra_app, user_errors_as_one_line


@hydra.main(version_base="1.3", config_path="pkg://aqnet.conf", config_name="eval")
@user_errors_as_one_line
def _app(cfg: DictConfig) -> None:
    from aqnet.inference.evaluate import evaluate
    from aqnet.inference.loading import require_run
    from aqnet.training.console import quiet_console

    require_run(cfg)  # before Hydra's own two-line report of a missing mandatory value
    quiet_console()
    regions = OmegaConf.to_container(cfg.regions, resolve=True) if cfg.regions else {}
    evaluate(
        str(cfg.run),
        Path(cfg.paths.root),
        which=str(cfg.checkpoint),
        split=str(cfg.split),
        regions=regions,
        limit_batches=cfg.limit_batches,
        batch_size=cfg.batch_size,
        case_lead_hours=cfg.case_lead_hours,
        plots=bool(cfg.plots),
        log_to_mlflow=bool(cfg.log_to_mlflow),
        stations=cfg.get("stations"),
    )


def main() -> int:
    return run_hydra_app(_app, "eval")


if __name__ == "__main__":
    raise SystemExit(main())
