"""launchers/mlflow/server.sh as the tests drive it: started on a free loopback port, restarted, stopped."""

from __future__ import annotations

import configparser
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import mlflow

from tests.cli.conftest import BIN

SERVER = Path(__file__).resolve().parents[2] / "launchers" / "mlflow" / "server.sh"


@dataclass
class TrackingServer:
    root: Path
    port: int
    auth: bool

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def credentials_file(self) -> Path:
        return self.root / "mlflow-server" / "basic_auth.ini"

    @property
    def log(self) -> Path:
        return self.root / "mlflow-server" / "server.log"

    def _script(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "AQNET_ROOT": str(self.root), "MLFLOW_BIN": str(BIN / "mlflow")}
        return subprocess.run(["bash", str(SERVER), *args], env=env, capture_output=True, text=True, timeout=180)

    def start(self) -> str:
        started = self._script("start", str(self.port), *(["--auth"] if self.auth else []))
        assert started.returncode == 0, started.stdout + started.stderr
        return started.stdout + started.stderr

    def stop(self) -> None:
        self._script("stop")

    def credentials(self) -> dict[str, str]:
        """MLFLOW_TRACKING_USERNAME / PASSWORD as a job would export them."""
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(self.credentials_file)
        section = parser["mlflow"]
        return {
            "MLFLOW_TRACKING_USERNAME": section["admin_username"],
            "MLFLOW_TRACKING_PASSWORD": section["admin_password"],
        }

    def client(self) -> mlflow.MlflowClient:
        """A client of this server; with auth, the caller sets the credentials (``credentials()``) in its env."""
        return mlflow.MlflowClient(self.uri)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(root: Path, auth: bool) -> TrackingServer:
    server = TrackingServer(root=root, port=free_port(), auth=auth)
    server.start()
    return server
