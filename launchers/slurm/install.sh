#!/usr/bin/env bash
# Install the SLURM + MUNGE packages needed by launchers/slurm/local_cluster.sh
# (Debian/Ubuntu). Idempotent: does nothing when the binaries are already there.
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"

missing=()
for bin in slurmctld slurmd sbatch munged; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("$bin")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "SLURM already installed ($(slurmctld -V))"
  exit 0
fi
echo "Missing: ${missing[*]} -> installing munge slurmctld slurmd slurm-client"

sudo=()
if [[ $EUID -ne 0 ]]; then
  sudo=(sudo -n)
fi

"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq munge slurmctld slurmd slurm-client >/dev/null
echo "Installed $(slurmctld -V)"
