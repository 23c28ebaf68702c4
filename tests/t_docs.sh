#!/bin/sh
# t_docs.sh: the docs say what the program does: docs/JOBS.md holds `cotsnet keys` verbatim, every job
# in jobs/ passes `cotsnet check`, `cotsnet check --get section.key` prints the value the job uses (a
# default, the file's, an override's; a key the job lacks is one error line, exit status 2), and
# tools/run_default.sh removes an earlier run's checkpoints from the directory that --get resolves.
BIN=${COTSNET_BIN:-bin/cotsnet}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
"$BIN" keys > "$tmp/keys" || { echo "FAIL docs_keys: cotsnet keys failed"; exit 1; }
awk '/^```$/{f=!f; next} f' docs/JOBS.md > "$tmp/doc"
if diff -u "$tmp/doc" "$tmp/keys" > "$tmp/diff"; then echo "ok docs_jobs_keys"; else
    echo "FAIL docs_jobs_keys: docs/JOBS.md differs from 'cotsnet keys':"; head -20 "$tmp/diff"; fi
for j in jobs/*.ini; do
    if "$BIN" check "$j" > "$tmp/out" 2>&1; then echo "ok job_check_$(basename "$j" .ini)"
    else echo "FAIL job_check_$(basename "$j" .ini): $(cat "$tmp/out")"; fi
done
"$BIN" --version | grep -q "git " && echo "ok version_has_git" || echo "FAIL version_has_git: no git revision in --version"
"$BIN" --help | grep -q "usage: cotsnet" && echo "ok help" || echo "FAIL help: --help prints no usage"

# check --get: a job whose out_dir holds a space and is followed by a comment, two stages
cat > "$tmp/get.ini" <<EOF
; a job for check --get
[run]
name = get-test
out_dir = $tmp/my run   ; where it goes
[data]
train = synthetic
height = 12
width = 12
channels = 1
[stage1]
field = 3
maps = 4
lambda = 0.05
[stage2]
field = 3
maps = 2
decoder = separate
EOF
# get NAME WANT ARGS...: check prints exactly WANT, exit 0, nothing on stderr
get() {
    name=$1; want=$2; shift 2
    got=$("$BIN" check "$tmp/get.ini" "$@" 2>"$tmp/get.err"); rc=$?
    if [ $rc -ne 0 ] || [ "$got" != "$want" ] || [ -s "$tmp/get.err" ]; then
        echo "FAIL $name: check $* printed '$got' (exit $rc, $(head -c 200 "$tmp/get.err")), expected '$want'"
        return 1
    fi
}
get check_get_default 32 --get data.batch && get check_get_default tied --get stage1.decoder &&
    get check_get_default "$tmp/my run/ckpt" --get checkpoint.dir && echo "ok check_get_default"
get check_get_file "$tmp/my run" --get run.out_dir && get check_get_file 0.05 --get stage1.lambda &&
    get check_get_file separate --get=stage2.decoder && echo "ok check_get_file"
get check_get_set "$tmp/other" --set run.out_dir="$tmp/other" --get run.out_dir &&
    get check_get_set "$tmp/other/ckpt" --get checkpoint.dir --set run.out_dir="$tmp/other" &&
    get check_get_set 9 --set stage2.maps=9 --get stage2.maps && echo "ok check_get_set"
# refused NAME PATTERN ARGS...: exit 2, nothing on stdout, one line on stderr matching PATTERN
refused() {
    name=$1; pat=$2; shift 2
    "$BIN" check "$tmp/get.ini" "$@" >"$tmp/get.out" 2>"$tmp/get.err"; rc=$?
    if [ $rc -eq 2 ] && [ ! -s "$tmp/get.out" ] && [ "$(wc -l <"$tmp/get.err")" -eq 1 ] &&
        grep -q -- "$pat" "$tmp/get.err"; then
        echo "ok $name"
    else
        echo "FAIL $name: exit $rc, stdout '$(head -c 100 "$tmp/get.out")', stderr '$(head -c 200 "$tmp/get.err")'"
    fi
}
refused check_get_unknown_key "^cotsnet: error: check: --get run.outdir: unknown key" --get run.outdir
refused check_get_unknown_section "--get runs.out_dir: unknown section" --get runs.out_dir
refused check_get_stage_beyond "--get stage3.maps: the job has 2 stages" --get stage3.maps
refused check_get_no_key "--get needs section.key" --get

# tools/run_default.sh removes ckpt-*.h5 from the directory --get resolves, and none with --resume (run in
# a directory of its own, with a cotsnet whose train only logs its arguments)
if command -v mpirun >/dev/null 2>&1; then
    real=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
    here=$(pwd)
    rd="$tmp/rd"
    mkdir -p "$rd/data/fashion-mnist" "$tmp/my run/ckpt" "$tmp/c2"
    touch "$rd/data/fashion-mnist/train-000.h5" "$rd/data/fashion-mnist/test-000.h5"
    printf '#!/bin/sh\nif [ "$1" = train ]; then echo "$*" >> "%s/trained"; exit 0; fi\nexec "%s" "$@"\n' \
        "$rd" "$real" > "$rd/cotsnet"
    chmod +x "$rd/cotsnet"
    make_run() { # LOG ARGS...
        log=$1; shift
        (cd "$rd" && COTSNET_BIN="$rd/cotsnet" COTSNET_JOB="$tmp/get.ini" COTSNET_NP=1 \
            sh "$here/tools/run_default.sh" "$@" >"$rd/$log" 2>&1)
    }
    touch "$tmp/my run/ckpt/ckpt-00000005.h5" "$tmp/c2/ckpt-00000005.h5"
    make_run log1; rc1=$?
    gone1=$([ -e "$tmp/my run/ckpt/ckpt-00000005.h5" ] || echo yes)
    kept1=$([ -e "$tmp/c2/ckpt-00000005.h5" ] && echo yes)
    make_run log2 --set checkpoint.dir="$tmp/c2"; rc2=$?
    gone2=$([ -e "$tmp/c2/ckpt-00000005.h5" ] || echo yes)
    touch "$tmp/my run/ckpt/ckpt-00000006.h5"
    make_run log3 --resume auto; rc3=$?
    kept3=$([ -e "$tmp/my run/ckpt/ckpt-00000006.h5" ] && echo yes)
    trained=$(cat "$rd/trained" 2>/dev/null | wc -l)
    if [ "$rc1$rc2$rc3" = 000 ] && [ "$gone1$kept1$gone2$kept3" = yesyesyesyes ] && [ "$trained" -eq 3 ]; then
        echo "ok run_default_ckpt_dir"
    else
        echo "FAIL run_default_ckpt_dir: exits $rc1 $rc2 $rc3, $trained trained, removed from the job's" \
            "[$gone1] / kept elsewhere [$kept1] / removed from --set checkpoint.dir [$gone2] /" \
            "kept on --resume [$kept3]"
        tail -n 3 "$rd/log1" "$rd/log2" "$rd/log3"
    fi
else
    echo "skip run_default_ckpt_dir: mpirun not found"
fi
