#!/usr/bin/env bash
# An MLflow tracking server for sweeps whose jobs run on several nodes (sqlite on a shared disk is unsafe there).
#   launchers/mlflow/server.sh start [PORT]   serve <root>/mlflow-server.db, artifacts under <root>/server-artifacts
#   launchers/mlflow/server.sh stop
# Jobs then log with logger.tracking_uri=http://<this host>:<PORT>. root = $AQNET_ROOT, else ./aqnet-runs.
# Host: 127.0.0.1 by default (this node only); AQNET_MLFLOW_HOST=0.0.0.0 to serve the cluster's compute nodes.
set -euo pipefail

root="$(realpath -m "${AQNET_ROOT:-./aqnet-runs}")"
port="${2:-${AQNET_MLFLOW_PORT:-5000}}"
host="${AQNET_MLFLOW_HOST:-127.0.0.1}"
state="$root/mlflow-server"
mlflow_bin="${MLFLOW_BIN:-$(command -v mlflow || true)}"

case "${1:-}" in
start)
  [[ -n "$mlflow_bin" ]] || { echo "mlflow-server: mlflow is not on PATH (activate aqnet's environment)" >&2; exit 2; }
  mkdir -p "$state" "$root/server-artifacts"
  if [[ -f "$state/pid" ]] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
    echo "mlflow-server: already running (pid $(cat "$state/pid")) at $(cat "$state/uri")"
    exit 0
  fi
  setsid "$mlflow_bin" server --host "$host" --port "$port" --workers 2 \
    --backend-store-uri "sqlite:///$root/mlflow-server.db" \
    --artifacts-destination "$root/server-artifacts" >"$state/server.log" 2>&1 &
  echo $! >"$state/pid"
  uri="http://$( [[ "$host" == 0.0.0.0 ]] && hostname || echo "$host" ):$port"
  echo "$uri" >"$state/uri"
  for _ in $(seq 1 120); do  # the first start migrates the schema: allow a minute
    if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1]+'/health', timeout=2)" "$uri" \
      2>/dev/null; then
      echo "mlflow-server: serving $uri  (jobs: logger.tracking_uri=$uri)"
      exit 0
    fi
    kill -0 "$(cat "$state/pid")" 2>/dev/null || break
    sleep 0.5
  done
  echo "mlflow-server: did not come up; log $state/server.log:" >&2
  tail -n 30 "$state/server.log" >&2
  exit 1
  ;;
stop)
  if [[ -f "$state/pid" ]]; then
    pid="$(cat "$state/pid")"
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    rm -f "$state/pid"
    echo "mlflow-server: stopped"
  fi
  ;;
*)
  echo "usage: $0 start [PORT] | stop" >&2
  exit 2
  ;;
esac
