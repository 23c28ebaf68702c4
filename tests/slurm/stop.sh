#!/bin/sh
# tests/slurm/stop.sh [DIR]: cancels the jobs of the private Slurm in DIR (default $COTSNET_SLURM_DIR)
# and stops its slurmd, slurmctld and munged (by their pid files), killing any job process left.
# Keeps DIR (logs in DIR/log); remove it yourself. Safe to run twice.
. "$(dirname "$0")/lib.sh"
if ! slurm_down "${1:-}"; then
    echo "stop.sh: $SLURM_WHY (usage: stop.sh DIR)" >&2
    exit 1
fi
