"""Where runs are tracked: the store's URI, its creation, the experiment name and a tracking server's credentials.

A light module shared by :mod:`aqnet.tracking.mlflow` (a job's run) and :mod:`aqnet.tracking.sweeps` (a sweep's
parent run), so neither imports the other.

Credentials of an authenticated server (``launchers/mlflow/server.sh``, MLflow's basic-auth app) come from
``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` when both are set, else from the server's credentials
file: ``$AQNET_MLFLOW_CREDENTIALS``, else ``<paths.root>/mlflow-server/basic_auth.ini`` (owner-only, written by the
server on its first start). MLflow's client reads the two variables; a SLURM job inherits them from the submitting
process.
"""

from __future__ import annotations

import configparser
import os
import subprocess
from pathlib import Path

from omegaconf import DictConfig

import aqnet
from aqnet.errors import ConfigError
from aqnet.utils.atomic import file_lock

CREDENTIALS_ENV = "AQNET_MLFLOW_CREDENTIALS"
SERVER_DIR = "mlflow-server"  # under the server's root (launchers/mlflow/server.sh)
CREDENTIALS_FILE = "basic_auth.ini"
USER_ENV, PASSWORD_ENV = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"


def tracking_uri(cfg: DictConfig) -> str:
    return cfg.logger.tracking_uri or f"sqlite:///{Path(cfg.paths.root) / 'mlflow.db'}"


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def experiment_name(cfg: DictConfig) -> str:
    return cfg.logger.experiment_name or cfg.experiment


def artifact_location(cfg: DictConfig) -> str | None:
    """Artifacts under <paths.root>/artifacts for the sqlite store; a tracking server decides for itself."""
    return (Path(cfg.paths.root) / "artifacts").as_uri() if tracking_uri(cfg).startswith("sqlite") else None


def credentials_path(root: Path) -> Path:
    return Path(os.environ.get(CREDENTIALS_ENV) or Path(root) / SERVER_DIR / CREDENTIALS_FILE)


def load_credentials(root: Path) -> str | None:
    """Put a server's credentials where MLflow's client reads them (the environment); returns where they came
    from: 'environment', the file's path, or None (no credentials: an open server)."""
    if os.environ.get(USER_ENV) and os.environ.get(PASSWORD_ENV):
        return "environment"
    path = credentials_path(root)
    if not path.is_file():
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path)
        user, password = parser["mlflow"]["admin_username"], parser["mlflow"]["admin_password"]
    except (configparser.Error, KeyError, OSError) as error:
        raise ConfigError(f"{path}: not a readable MLflow credentials file ({type(error).__name__})") from None
    os.environ[USER_ENV], os.environ[PASSWORD_ENV] = user, password
    return str(path)


def ensure_store(uri: str, root: Path, launching: bool = False) -> None:
    """sqlite: create the schema once, under a lock, before any job writes to it. A server: load its credentials
    and check that it answers them (one line naming where credentials come from if it refuses). The launching
    process (``launching``) also refuses at once a server that does not answer; a job waits for it (MLflow's
    retries: a server being restarted)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if is_server(uri):
        source = load_credentials(root)
        if launching:
            _require_answer(uri)
        try:
            mlflow.MlflowClient(uri).search_experiments(max_results=1)
        except MlflowException as error:
            if "401" not in str(error) and "403" not in str(error):
                raise
            raise ConfigError(
                f"the MLflow server {uri} refused "
                + (f"the credentials from {source}" if source else "a request without credentials")
                + f": export {USER_ENV} and {PASSWORD_ENV}, or {CREDENTIALS_ENV}=<server root>/{SERVER_DIR}/"
                f"{CREDENTIALS_FILE} (written by launchers/mlflow/server.sh)"
            ) from None
        return
    if not uri.startswith("sqlite:///"):
        return
    with file_lock(root / "mlflow.db"):
        mlflow.MlflowClient(uri).search_experiments(max_results=1)


def _require_answer(uri: str) -> None:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=10).close()
    except urllib.error.HTTPError:
        return  # it answers (a proxy may guard /health): the request below says more
    except OSError as error:
        reason = getattr(error, "reason", error)
        raise ConfigError(
            f"the MLflow server logger.tracking_uri={uri} does not answer ({reason}): start it "
            "(launchers/mlflow/server.sh start) or fix logger.tracking_uri"
        ) from None


def git_sha() -> str:
    """The commit of the aqnet source that runs (with -dirty if modified); 'unknown' outside a checkout."""
    src = Path(aqnet.__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
