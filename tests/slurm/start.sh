#!/bin/sh
# tests/slurm/start.sh [DIR]: starts (or reuses) a private one-node Slurm on localhost in DIR
# (default $COTSNET_SLURM_DIR, else a new /tmp/cotsnet-slurm.XXXXXX), waits until its node is idle,
# and prints the exports that point the Slurm commands at it:
#   eval "$(tests/slurm/start.sh /tmp/myslurm)"; sbatch ...; tests/slurm/stop.sh /tmp/myslurm
# Needs root and Debian's slurm-wlm and munge (make deps). See tests/slurm/lib.sh and docs/SLURM.md.
. "$(dirname "$0")/lib.sh"
if ! slurm_up "${1:-}"; then
    echo "start.sh: $SLURM_WHY" >&2
    exit 1
fi
echo "export SLURM_CONF='$SLURM_CONF' COTSNET_SLURM_DIR='$COTSNET_SLURM_DIR'"
