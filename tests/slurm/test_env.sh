# tests/slurm/test_env.sh: what the Slurm tests (tests/t_slurm_*.sh) share; source it after setting
# repo (the repository root). It sources tests/slurm/lib.sh and gives:
#   slurm_test_setup NAME PREFIX: a skip line NAME and exit 0 when Slurm is not installed here; else
#       one thread per rank, mpirun as root and oversubscribed, tmp (a new /tmp/cotsnet-PREFIX.XXXXXX
#       for the private Slurm, tmp/slurm, and the jobs), fails (the count of fail lines) and t_start;
#       at exit the pids in kill_at_exit are killed, the daemons stopped, and tmp removed unless a
#       check failed (then kept, and said);
#   ok NAME, fail NAME WHY (counted in fails), show FILE (its last lines, indented, after a FAIL line);
#   slurm_test_down NAME: stops the instance, then ok NAME when no daemon and no process of it is left.
. "$repo/tests/slurm/lib.sh"

slurm_test_setup() {
    if ! slurm_have; then
        echo "skip $1: $SLURM_WHY"
        exit 0
    fi
    export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    export OMPI_MCA_rmaps_base_oversubscribe=1
    tmp=$(mktemp -d "/tmp/cotsnet-$2.XXXXXX") || exit 1
    chmod 755 "$tmp" # munged wants its socket's directories searchable by all
    fails=0
    kill_at_exit=
    trap slurm_test_cleanup EXIT
    trap 'exit 1' INT TERM HUP
    t_start=$(date +%s)
}

slurm_test_cleanup() {
    [ -n "$kill_at_exit" ] && kill $kill_at_exit 2>/dev/null
    slurm_down "$tmp/slurm"
    if [ "$fails" -eq 0 ]; then rm -rf "$tmp"; else echo "(kept $tmp: slurm/log, work/)"; fi
}

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; fails=$((fails + 1)); }
show() { [ -f "$1" ] && sed 's/^/    /' "$1" | tail -n 40; }

slurm_test_down() {
    slurm_down "$tmp/slurm"
    unset SLURM_CONF COTSNET_SLURM_DIR
    _st_left=
    for _st_f in munged slurmctld slurmd; do
        [ -e "$tmp/slurm/pid/$_st_f.pid" ] && _st_left="$_st_left $_st_f.pid"
    done
    for _st_e in /proc/[0-9]*/environ; do
        [ "$_st_e" = "/proc/$$/environ" ] && continue
        tr '\0' '\n' 2>/dev/null <"$_st_e" |
            grep -qx -e "COTSNET_SLURM_INSTANCE=$tmp/slurm" -e "SLURM_CONF=$tmp/slurm/slurm.conf" &&
            _st_left="$_st_left ${_st_e%/environ}"
    done
    if [ -z "$_st_left" ]; then
        ok "$1 (nothing left; test took $(( $(date +%s) - t_start )) s)"
    else
        fail "$1" "left behind:$_st_left"
    fi
}
