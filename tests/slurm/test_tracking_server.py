"""The authenticated tracking server (launchers/mlflow/server.sh): requests without valid credentials are refused
and change nothing; a server restarted in the middle of a SLURM sweep loses nothing (the jobs' requests retry)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.cli.conftest import BIN, script
from tests.launch.sweep_helpers import SHORT_JOB, aqnet_train, sweep_runs
from tests.slurm.conftest import SlurmCluster
from tests.slurm.server_helpers import SERVER, TrackingServer, free_port, start_server

pytestmark = [pytest.mark.slurm, pytest.mark.integration]
MLFLOW = str(BIN / "mlflow")
NO_CREDENTIALS = {"MLFLOW_TRACKING_USERNAME": "", "MLFLOW_TRACKING_PASSWORD": "", "AQNET_MLFLOW_CREDENTIALS": "/none"}


def _post(uri: str, body: dict, auth: tuple[str, str] | None = None) -> int:
    request = urllib.request.Request(
        f"{uri}/api/2.0/mlflow/experiments/create", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_requests_without_valid_credentials_are_refused_and_log_nothing(
    tracking_server: TrackingServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tracking_server.credentials()["MLFLOW_TRACKING_USERNAME"]
    assert _post(tracking_server.uri, {"name": "intruder"}) == 401
    assert _post(tracking_server.uri, {"name": "intruder"}, (user, "guessed-password")) == 401
    assert _post(tracking_server.uri, {"name": "intruder"}, ("admin", "password1234")) == 401  # MLflow's old default
    # a sweep without credentials stops in the launching process, with one line, before submitting anything
    root = tmp_path / "root"
    common = ["-m", "seed=0,1", f"logger.tracking_uri={tracking_server.uri}", "logger.experiment_name=noauth"]
    result = aqnet_train(root, *common, *SHORT_JOB, env=NO_CREDENTIALS, timeout=300)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1, result.stderr
    assert "refused a request without credentials" in lines[0] and "AQNET_MLFLOW_CREDENTIALS" in lines[0]
    wrong = {**NO_CREDENTIALS, "MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": "guessed-password"}
    result = aqnet_train(root, *common, *SHORT_JOB, env=wrong, timeout=300)
    assert result.returncode != 0 and "refused the credentials from environment" in result.stderr, result.stderr
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = aqnet_train(root, *common, f"logger.tracking_uri={nobody}", *SHORT_JOB, env=NO_CREDENTIALS, timeout=300)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1 and f"{nobody} does not answer" in lines[0], result.stderr
    assert not (root / "runs").exists()
    for key, value in tracking_server.credentials().items():
        monkeypatch.setenv(key, value)
    names = {e.name for e in tracking_server.client().search_experiments()}
    assert not names & {"intruder", "noauth"}, names


def test_off_loopback_the_server_authenticates_unless_insecure(tmp_path: Path) -> None:
    """AQNET_MLFLOW_HOST=0.0.0.0: credentials are created (owner-only) and required; --insecure serves it open and
    says what that exposes."""
    port = free_port()
    for name, flags in (("auth", []), ("open", ["--insecure"])):
        env = {**os.environ, "AQNET_ROOT": str(tmp_path / name), "AQNET_MLFLOW_HOST": "0.0.0.0", "MLFLOW_BIN": MLFLOW}
        started = subprocess.run(
            ["bash", str(SERVER), "start", str(port), *flags], env=env, capture_output=True, text=True
        )
        try:
            assert started.returncode == 0, started.stdout + started.stderr
            status = _post(f"http://127.0.0.1:{port}", {"name": "from-the-network"})
        finally:
            subprocess.run(["bash", str(SERVER), "stop"], env=env, check=False, capture_output=True)
        credentials = tmp_path / name / "mlflow-server" / "basic_auth.ini"
        if name == "auth":
            assert status == 401 and "authenticated" in started.stdout
            assert (credentials.stat().st_mode & 0o777) == 0o600
        else:
            assert status == 200 and not credentials.exists()
            assert "INSECURE: no authentication; anyone who can reach" in started.stderr
            assert "read, change and delete every run" in started.stderr


@pytest.mark.timeout(900)
def test_server_restart_mid_sweep_loses_nothing(
    slurm_cluster: SlurmCluster, tiny_benchmark: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped while two SLURM jobs log, started again 10 s later: the jobs' requests retry (MLflow's backoff), both
    finish, and every train/loss step is there once."""
    server = start_server(tmp_path / "server", auth=True)
    steps = 12
    for key, value in server.credentials().items():
        monkeypatch.setenv(key, value)
    args = [
        "-m",
        "cluster=slurm",
        f"cluster.partition={slurm_cluster.partition}",
        "cluster.timeout_min=10",
        "cluster.cpus_per_task=1",
        "seed=0,1",
        f"data.path={tiny_benchmark}",
        f"logger.tracking_uri={server.uri}",
        "logger.experiment_name=restart",
        *SHORT_JOB,
        f"trainer.max_steps={steps}",
        f"trainer.val_check_interval={steps}",
    ]
    root = tmp_path / "root"
    root.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "AQNET_SUBMIT_TIME"} | {"AQNET_ROOT": str(root)}
    sweep = subprocess.Popen(
        [script("aqnet-train"), *args], cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        client, deadline, logged = server.client(), time.monotonic() + 600, []
        while True:  # both jobs are logging: some steps there, not all
            experiment = client.get_experiment_by_name("restart")
            runs = client.search_runs([experiment.experiment_id]) if experiment else []
            logged = [len(client.get_metric_history(r.info.run_id, "train/loss")) for r in runs]
            if len([n for n in logged if n >= 2]) == 2:
                break
            assert sweep.poll() is None, sweep.communicate()[0][-3000:]
            assert time.monotonic() < deadline, f"the jobs did not start logging: {logged}"
            time.sleep(1)
        server.stop()
        time.sleep(10)
        server.start()
        output, _ = sweep.communicate(timeout=600)
    finally:
        if sweep.poll() is None:
            sweep.kill()
        server.stop()
    assert sweep.returncode == 0, output[-3000:]
    assert max(logged) < steps, "the restart came after the jobs had finished logging"
    server.start()
    try:
        parent, children = sweep_runs(server.uri, "restart")
        assert [c.info.status for c in children] == ["FINISHED", "FINISHED"]
        for child in children:
            history = server.client().get_metric_history(child.info.run_id, "train/loss")
            assert sorted(m.step for m in history) == list(range(steps)), child.info.run_name  # no gap, no duplicate
            assert "test/rmse_pm25_24h" in child.data.metrics
    finally:
        server.stop()
