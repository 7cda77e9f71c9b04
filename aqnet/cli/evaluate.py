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
    from rich.console import Console

    from aqnet.inference.evaluate import evaluate
    from aqnet.inference.loading import require_run
    from aqnet.training.console import quiet_console

    require_run(cfg)  # before Hydra's own two-line report of a missing mandatory value
    quiet_console()
    regions = OmegaConf.to_container(cfg.regions, resolve=True) if cfg.regions else {}
    result = evaluate(
        str(cfg.run),
        Path(cfg.paths.root),
        split=str(cfg.split),
        which=str(cfg.checkpoint),
        regions=regions,  # type: ignore[arg-type]
        limit_batches=cfg.limit_batches,
        batch_size=cfg.batch_size,
        case_lead_hours=cfg.case_lead_hours,
        plots=bool(cfg.plots),
        log_to_mlflow=bool(cfg.log_to_mlflow),
        stations=cfg.get("stations"),
    )
    from aqnet.tasks.report import format_results_table  # the table aqnet-train prints

    console = Console()
    console.print(format_results_table(result.metrics, split=result.split))
    for region in result.regions:
        prefix = f"{result.split}/{region.name}"
        if any(k.startswith(prefix + "/rmse_") for k in result.metrics):
            console.print(format_results_table(result.metrics, split=prefix))
        else:
            console.print(f"region {region.name} (lat {region.lat}, lon {region.lon}): no grid cell inside; skipped")
    if result.stations:
        console.print(format_results_table(result.metrics, split=f"{result.split}/stations"))
        console.print(result.stations, soft_wrap=True)
    for path in result.files:
        console.print(f"wrote {path}", soft_wrap=True)
    if result.logged:
        console.print(result.logged, soft_wrap=True)


def main() -> int:
    return run_hydra_app(_app)


if __name__ == "__main__":
    raise SystemExit(main())
