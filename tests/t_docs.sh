#!/bin/sh
# t_docs.sh: the docs say what the program does: docs/JOBS.md holds `cotsnet keys` verbatim, and every
# job in jobs/ passes `cotsnet check`.
BIN=${COTSNET_BIN:-bin/cotsnet}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
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
