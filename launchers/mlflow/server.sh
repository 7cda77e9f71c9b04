#!/usr/bin/env bash
# An MLflow tracking server for sweeps whose jobs run on several nodes (sqlite on a shared disk is unsafe there).
#   launchers/mlflow/server.sh start [PORT] [--auth | --insecure]
#   launchers/mlflow/server.sh stop
# Serves <root>/mlflow-server.db, artifacts under <root>/server-artifacts; root = $AQNET_ROOT, else ./aqnet-runs.
# Jobs log with logger.tracking_uri=http://<this host>:<PORT>.
# Host: 127.0.0.1 by default (this node only); AQNET_MLFLOW_HOST=0.0.0.0 (or a name/address) to serve compute nodes.
# Off loopback the server requires authentication (MLflow's basic-auth app): the credentials are created on the
# first start in <root>/mlflow-server/basic_auth.ini (owner-only, never printed), and the Host and CORS headers are
# restricted to this node's names. --auth authenticates on loopback too; --insecure serves off loopback without it.
set -euo pipefail

root="$(realpath -m "${AQNET_ROOT:-./aqnet-runs}")"
host="${AQNET_MLFLOW_HOST:-127.0.0.1}"
state="$root/mlflow-server"
credentials="$state/basic_auth.ini"
mlflow_bin="${MLFLOW_BIN:-$(command -v mlflow || true)}"
command="${1:-}"
shift || true
port="${AQNET_MLFLOW_PORT:-5000}"
auth=auto
for arg in "$@"; do
  case "$arg" in
  --auth) auth=yes ;;
  --insecure) auth=no ;;
  [0-9]*) port="$arg" ;;
  *) echo "mlflow-server: unknown argument $arg (usage: $0 start [PORT] [--auth | --insecure])" >&2; exit 2 ;;
  esac
done
case "$host" in 127.* | localhost | ::1) loopback=1 ;; *) loopback=0 ;; esac
[[ "$auth" == auto ]] && { [[ $loopback == 1 ]] && auth=no || auth=yes; }

write_credentials() {  # once: a random admin password, owner-only from the moment the file exists
  [[ -f "$credentials" && -f "$state/secret_key" ]] && return
  (
    umask 077
    password="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
    cat >"$credentials.tmp" <<EOF
# aqnet's MLflow server: basic-auth settings and the admin credentials jobs log with (keep owner-only).
[mlflow]
default_permission = NO_PERMISSIONS
database_uri = sqlite:///$state/basic_auth.db
admin_username = aqnet-${USER:-$(id -un)}
admin_password = $password
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
# a checked password is trusted for 60 s per worker: hashing it on every request slows a sweep's logging
auth_cache_ttl_seconds = 60
EOF
    mv "$credentials.tmp" "$credentials"
    python3 -c 'import secrets; print(secrets.token_urlsafe(32))' >"$state/secret_key"  # the UI's CSRF key
  )
}

case "$command" in
start)
  [[ -n "$mlflow_bin" ]] || { echo "mlflow-server: mlflow is not on PATH (activate aqnet's environment)" >&2; exit 2; }
  (umask 077 && mkdir -p "$state") && mkdir -p "$root/server-artifacts"
  if [[ -f "$state/pid" ]] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
    echo "mlflow-server: already running (pid $(cat "$state/pid")) at $(cat "$state/uri")"
    exit 0
  fi
  name="$([[ "$host" == 0.0.0.0 || "$host" == :: ]] && hostname || echo "$host")"
  uri="http://$name:$port"
  args=(server --host "$host" --port "$port" --workers 2
    --backend-store-uri "sqlite:///$root/mlflow-server.db" --artifacts-destination "$root/server-artifacts")
  if [[ $loopback == 0 ]]; then  # the names jobs reach it by; anything else (DNS rebinding, other sites) is refused
    names=("$name" "$(hostname)" "$(hostname -f 2>/dev/null || hostname)" localhost 127.0.0.1 $(hostname -I 2>/dev/null || true))
    IFS=, read -r -a extra <<<"${AQNET_MLFLOW_ALLOWED_HOSTS:-}"
    names+=("${extra[@]}")
    hosts="$(printf '%s\n' "${names[@]}" | grep -v : | sort -u | sed "s/\$/:$port/" | paste -sd,)"
    args+=(--allowed-hosts "$hosts" --cors-allowed-origins "$(echo "$hosts" | sed 's|\([^,]*\)|http://\1|g')")
  fi
  if [[ $auth == yes ]]; then
    write_credentials
    if [[ "$(stat -c %a "$credentials")" != 600 ]]; then
      echo "mlflow-server: $credentials is readable by others (mode $(stat -c %a "$credentials")); chmod 600 it" >&2
      exit 2
    fi
    args+=(--app-name basic-auth)
    mode="authenticated (credentials: $credentials)"
  elif [[ $loopback == 0 ]]; then
    mode="INSECURE: no authentication; anyone who can reach $uri can read, change and delete every run, param, metric and checkpoint stored under $root"
    echo "mlflow-server: warning: $mode" >&2
  else
    mode="open on loopback (any user of this node can reach it; --auth to require credentials)"
  fi
  secret="$([[ $auth == yes ]] && cat "$state/secret_key" || true)"
  MLFLOW_AUTH_CONFIG_PATH="$credentials" MLFLOW_FLASK_SERVER_SECRET_KEY="$secret" setsid "$mlflow_bin" "${args[@]}" >"$state/server.log" 2>&1 &
  echo $! >"$state/pid"
  echo "$uri" >"$state/uri"
  for _ in $(seq 1 120); do  # the first start migrates the schema: allow a minute
    if python3 -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1]+'/health', timeout=2)" "$uri" \
      2>/dev/null; then
      echo "mlflow-server: serving $uri, $mode  (jobs: logger.tracking_uri=$uri)"
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
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    rm -f "$state/pid"
    echo "mlflow-server: stopped"
  fi
  ;;
*)
  echo "usage: $0 start [PORT] [--auth | --insecure] | stop" >&2
  exit 2
  ;;
esac
