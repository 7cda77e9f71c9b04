#!/usr/bin/env bash
# The elevation ablation, end to end: five arms × $SEEDS, then aqnet-compare. Extra arguments go to every
# aqnet-train call (a cluster preset, a larger size: see README.md). Needs a fresh output root, so that the
# comparison holds exactly these runs.
#   experiments/elevation_ablation/run.sh                       # the committed result (about 30 min on 2 CPU cores)
#   SEEDS=0,1,2,3,4 experiments/elevation_ablation/run.sh cluster=slurm data=benchmark_small
# On a cluster each sweep blocks until its job array ends: run it in tmux or as a small job of its own
# (sbatch --time=2-00:00:00 --wrap "experiments/elevation_ablation/run.sh cluster=slurm ...").
set -euo pipefail
export AQNET_ROOT="${AQNET_ROOT:-$PWD/aqnet-elevation-ablation}"
SEEDS="${SEEDS:-0,1,2}"
if [[ -e "$AQNET_ROOT/mlflow.db" ]]; then
  echo "aqnet: error: $AQNET_ROOT/mlflow.db exists: the study needs a fresh output root; set AQNET_ROOT to a new directory" >&2
  exit 2
fi

# three sweeps, each with its own sweep id (an inherited AQNET_SUBMIT_TIME would give all three the same run ids)
train() { env -u AQNET_SUBMIT_TIME aqnet-train -m experiment=elevation_ablation "seed=$SEEDS" "$@"; }
train "$@" physics_bias=none,adaptive
train "$@" physics_bias=topoflow physics_bias.direction=source_higher,receptor_higher
train "$@" physics_bias=topoflow physics_bias.control=shuffled_elevation

aqnet-compare --mlflow-experiment elevation_ablation --by physics_bias --by physics_bias.direction \
  --by physics_bias.control --baseline none --map-lead 24 --out "$AQNET_ROOT/comparison"
