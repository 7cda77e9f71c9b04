#!/usr/bin/env bash
# Submit a sweep and get the terminal back: hydra-submitit's launcher blocks until every job ends, so run the
# launcher itself inside a small, long SLURM job; it submits the job array and waits there instead of here.
#
#   launchers/slurm/submit_sweep.sh [sbatch options ...] -- aqnet-train -m cluster=slurm physics_bias=none,topoflow seed=0,1,2
#
# Prints the sweep id at once (it is fixed here and inherited by the launcher job), then:
#   aqnet-compare --sweep <id>            follow the sweep (running jobs are listed as such)
#   <root>/sweeps/<id>/launcher.log       the launcher's output; scancel the launcher job to stop waiting
# Outputs go under $AQNET_ROOT (default ./aqnet-runs, made absolute here so the job agrees); set paths with
# AQNET_ROOT rather than paths.root=... so the launcher log lands in the sweep's directory.
# Default launcher-job request: 1 CPU, 2 GB, 3 days; override with sbatch options before `--`.
set -euo pipefail

sbatch_args=()
while [[ $# -gt 0 && "$1" != "--" ]]; do
  sbatch_args+=("$1")
  shift
done
[[ "${1:-}" == "--" && $# -ge 2 ]] || {
  echo "usage: $0 [sbatch options ...] -- aqnet-train -m <overrides ...>" >&2
  exit 2
}
shift
command -v sbatch >/dev/null || { echo "submit_sweep: sbatch is not on PATH (no SLURM here)" >&2; exit 2; }

export AQNET_ROOT="$(realpath -m "${AQNET_ROOT:-./aqnet-runs}")"
export AQNET_SUBMIT_TIME="$(python3 -c 'import datetime as d; print(d.datetime.now(d.UTC).strftime("%Y%m%dT%H%M%S%fZ"))')"
sweep_dir="$AQNET_ROOT/sweeps/$AQNET_SUBMIT_TIME"
mkdir -p "$sweep_dir"

job=$(sbatch --parsable --job-name "aqnet-sweep-$AQNET_SUBMIT_TIME" --export=ALL \
  --ntasks=1 --cpus-per-task=1 --mem=2G --time=3-00:00:00 \
  --output "$sweep_dir/launcher.log" "${sbatch_args[@]}" --wrap "$(printf '%q ' "$@")")
echo "sweep $AQNET_SUBMIT_TIME submitted: launcher job $job"
echo "  follow:  aqnet-compare --sweep $AQNET_SUBMIT_TIME --root $AQNET_ROOT"
echo "  log:     $sweep_dir/launcher.log"
echo "$job" >"$sweep_dir/launcher_job_id"
