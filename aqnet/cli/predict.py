"""`aqnet-predict`: forecasts of a finished run as a CF-1.8 netCDF or zarr dataset.

aqnet-predict run=<run dir | run id | MLflow run id> init_time=2018-01-05T06:00
aqnet-predict run=<run> init_times=2018-01-05:2018-01-06T18 out=forecast.zarr checkpoint=last
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from aqnet.cli.hydra_app import run_hydra_app, user_errors_as_one_line


def _optional(value: object) -> str | None:
    return None if value is None else str(value)


@hydra.main(version_base="1.3", config_path="pkg://aqnet.conf", config_name="predict")
@user_errors_as_one_line
def _app(cfg: DictConfig) -> None:
    from aqnet.inference.loading import require_run
    from aqnet.inference.predict import predict
    from aqnet.training.console import quiet_console

    require_run(cfg)  # before Hydra's own two-line report of a missing mandatory value
    quiet_console()
    predict(
        str(cfg.run),
        Path(cfg.paths.root),
        which=str(cfg.checkpoint),
        init_time=_optional(cfg.init_time),
        init_times=_optional(cfg.init_times),
        out=str(cfg.out),
        overwrite=bool(cfg.overwrite),
        batch_size=cfg.batch_size,
    )


def main() -> int:
    return run_hydra_app(_app, "predict")


if __name__ == "__main__":
    raise SystemExit(main())
