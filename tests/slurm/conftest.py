"""A real one-node SLURM cluster on loopback (launchers/slurm/local_cluster.sh) for integration tests.

The cluster is started once per session (or reused when already healthy) and stopped at the end only if this
session started it. When a test using ``slurm_cluster`` fails, the daemons' log tails and ``squeue`` are attached
to its report.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.slurm.server_helpers import TrackingServer, start_server

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "launchers" / "slurm" / "local_cluster.sh"
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def _script(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class SlurmCluster:
    dir: Path
    conf: Path
    partition: str

    def logs(self, lines: int = 50) -> str:
        """slurmctld/slurmd/munged log tails, sinfo and squeue, as one string."""
        try:
            proc = _script("logs", str(lines), timeout=30)
        except subprocess.TimeoutExpired:
            return "(local_cluster.sh logs timed out)"
        return proc.stdout + proc.stderr


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slurm: needs the local one-node SLURM cluster (launchers/slurm)")


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    missing = [b for b in ("slurmctld", "sbatch") if shutil.which(b, path=SBIN_PATH) is None]
    if missing:
        pytest.skip(f"SLURM not installed ({', '.join(missing)} missing): run launchers/slurm/install.sh")

    cluster_dir = Path(os.environ.get("AQNET_SLURM_DIR", "/tmp/aqnet-slurm"))
    cluster = SlurmCluster(
        dir=cluster_dir,
        conf=cluster_dir / "slurm.conf",
        partition=os.environ.get("AQNET_SLURM_PARTITION", "debug"),
    )

    started = _script("status", timeout=30).returncode != 0
    if started:
        proc = _script("start")
        if proc.returncode != 0:
            pytest.fail(f"local SLURM cluster failed to start:\n{proc.stdout}\n{proc.stderr}", pytrace=False)

    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        if started:
            _script("stop")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    outcome = yield
    report = outcome.get_result()
    cluster = getattr(item, "funcargs", {}).get("slurm_cluster")
    if report.failed and isinstance(cluster, SlurmCluster):
        report.sections.append(("SLURM logs", cluster.logs()))


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackingServer]:
    """launchers/mlflow/server.sh with authentication (--auth) on a free loopback port, as a sweep would use it."""
    server = start_server(tmp_path_factory.mktemp("server-root"), auth=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def logged_in(tracking_server: TrackingServer, monkeypatch: pytest.MonkeyPatch) -> TrackingServer:
    """The tracking server, with its credentials in this process's environment (jobs it submits inherit them)."""
    for key, value in tracking_server.credentials().items():
        monkeypatch.setenv(key, value)
    return tracking_server
