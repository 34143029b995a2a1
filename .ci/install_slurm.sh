#!/usr/bin/env bash
# Install what tests/slurm_cluster.py needs to start a one-node Slurm cluster on this
# machine: munge (authentication), slurmctld (controller), slurmd (node daemon) and the
# client commands (sbatch, squeue, sinfo, sacct, scancel) that submitit calls by name.
# Idempotent: does nothing when everything is already installed.
set -euo pipefail
# The daemons live in /usr/sbin, which a non-login PATH may lack.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

need=()
command -v munged >/dev/null 2>&1 || need+=(munge)
command -v slurmctld >/dev/null 2>&1 || need+=(slurmctld)
command -v slurmd >/dev/null 2>&1 || need+=(slurmd)
command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
command -v hostname >/dev/null 2>&1 || need+=(hostname)

if [ "${#need[@]}" -eq 0 ]; then
    echo "install_slurm: already installed: $(slurmctld -V)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

echo "install_slurm: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends keeps out mailutils, an MTA and the like.
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "install_slurm: installed: $(slurmctld -V), $(munged --version 2>&1 | head -1)"
