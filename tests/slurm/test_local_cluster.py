"""End-to-end checks against the local SLURM cluster: plain sbatch, a submitit job and a submitit job array."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.slurm.conftest import SlurmCluster

submitit = pytest.importorskip("submitit")

pytestmark = pytest.mark.slurm


def _executor(folder: Path, cluster: SlurmCluster, **extra: object):
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    executor.update_parameters(
        timeout_min=5,
        cpus_per_task=1,
        mem_gb=1,
        slurm_partition=cluster.partition,
        **extra,
    )
    return executor


@pytest.mark.timeout(90)
def test_sbatch_wait_writes_output(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    out = tmp_path / "hi.out"
    proc = subprocess.run(
        [
            "sbatch",
            "--wait",
            f"--partition={slurm_cluster.partition}",
            f"--chdir={tmp_path}",
            f"--output={out}",
            "--time=1",
            "--mem=100M",
            "--wrap",
            "echo hi",
        ],
        capture_output=True,
        text=True,
        timeout=80,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.read_text().strip() == "hi"


@pytest.mark.timeout(120)
def test_submitit_job_returns_result(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    # Nested functions are pickled by value, so the job does not need to import this test module.
    def double_in_slurm(x: int) -> tuple[int, str]:
        import os

        return 2 * x, os.environ["SLURM_JOB_ID"]

    job = _executor(tmp_path / "submitit", slurm_cluster).submit(double_in_slurm, 21)
    value, job_id = job.result()
    assert value == 42
    assert job_id == job.job_id


@pytest.mark.timeout(120)
def test_submitit_job_array(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    def square_in_array(x: int) -> tuple[int, str]:
        import os

        return x * x, os.environ["SLURM_ARRAY_TASK_ID"]

    executor = _executor(tmp_path / "submitit", slurm_cluster, slurm_array_parallelism=2)
    jobs = executor.map_array(square_in_array, [3, 4])
    assert len(jobs) == 2
    assert [job.result() for job in jobs] == [(9, "0"), (16, "1")]
