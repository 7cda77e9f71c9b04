"""Cluster presets: what they set, the sbatch script they would submit, and their one-line refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from aqnet.config import compose
from aqnet.errors import ConfigError
from aqnet.launch.preview import sbatch_script
from tests.cli.conftest import BIN, Runner, assert_one_line_error


def test_slurm_preset_sets_launcher_and_matching_trainer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AQNET_SLURM_PARTITION", "gpu-a100")
    cfg = compose(["cluster=slurm", "cluster.tasks_per_node=4", "cluster.gpus_per_node=4", "cluster.nodes=2"], True)
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher") and cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.launcher.partition == "gpu-a100" and cfg.hydra.launcher.tasks_per_node == 4
    assert (cfg.trainer.devices, cfg.trainer.num_nodes) == (4, 2)
    assert (cfg.trainer.accelerator, cfg.trainer.strategy) == ("gpu", "ddp")
    cpu = compose(["cluster=slurm"])
    assert (cpu.trainer.accelerator, cpu.trainer.strategy, cpu.trainer.devices) == ("cpu", "auto", 1)
    # CPUs per task: one per data worker plus two for compute, following data.num_workers
    assert (cpu.data.num_workers, cpu.cluster.cpus_per_task) == (2, 4)
    assert compose(["cluster=submitit_local", "data.num_workers=5"]).cluster.cpus_per_task == 7
    assert compose([]).cluster.cpus_per_task is None  # a local run: the CPU affinity


def test_lumi_sbatch_script(monkeypatch: pytest.MonkeyPatch) -> None:
    """The script submitit would submit for cluster=lumi: checked, not submitted."""
    monkeypatch.setenv("AQNET_SLURM_ACCOUNT", "project_465000001")
    script = sbatch_script(["cluster=lumi"])
    for line in (
        "#SBATCH --account=project_465000001",
        "#SBATCH --partition=standard-g",
        "#SBATCH --gpus-per-node=8",
        "#SBATCH --ntasks-per-node=8",
        "#SBATCH --cpus-per-task=7",
        "#SBATCH --nodes=1",
        "#SBATCH --signal=USR2@120",
        "module load LUMI/24.03 partition/G",
    ):
        assert line in script, line
    assert "torchrun" not in script and "srun" in script  # SLURM starts one process per GCD
    cfg = compose(["cluster=lumi"])
    assert (cfg.trainer.devices, cfg.trainer.accelerator, cfg.trainer.strategy) == (8, "gpu", "ddp")


def test_lumi_without_account_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AQNET_SLURM_ACCOUNT", raising=False)
    with pytest.raises(ConfigError, match="AQNET_SLURM_ACCOUNT"):
        sbatch_script(["cluster=lumi"])


@pytest.mark.parametrize(
    ("overrides", "env", "named"),
    [
        (["cluster=lumi"], {"AQNET_SLURM_ACCOUNT": ""}, "needs a SLURM account"),
        (["cluster=slurm", "trainer.devices=2"], {}, "trainer.devices=2"),
        (["cluster=slurm", "cluster.gpus_per_node=2"], {}, "cluster.gpus_per_node=2"),
        (["cluster=slurm"], {"PATH": str(BIN)}, "sbatch, which is not on PATH"),
        (["cluster=submitit_local", "cluster.launcher=pbs"], {}, "cluster.launcher"),
        (["cluster=slurm", "cluster.cpus_per_task=4", "data.num_workers=4"], {}, "data.num_workers=4 needs"),
        (["cluster=submitit_local", "cluster.cpus_per_task=1", "data.num_workers=1"], {}, "data.num_workers=1 needs"),
    ],
    ids=["no-account", "devices-vs-tasks", "gpus-vs-tasks", "no-sbatch", "bad-launcher", "slurm-cpus", "local-cpus"],
)
def test_cluster_errors_before_submission(
    run_cli: Runner, root: Path, overrides: list[str], env: dict[str, str], named: str
) -> None:
    result = run_cli("aqnet-train", "-m", *overrides, "seed=0,1", "logger=none", env=env, timeout=120)
    assert_one_line_error(result, named)
    assert not (root / "sweeps").exists() and not (root / "runs").exists(), "nothing may be half-submitted"
