#!/bin/sh
# tests/run.sh BUILD — the whole suite: the C unit tests, then every end-to-end script in
# tests/e2e/ (*.sh run with sh, *.py with Debian's python3, *.mjs with node). Each script is one
# test: exit 0 passes, 77 skips, anything else fails. Ends with "N passed, N failed".
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export RS_BIN="$ROOT/$BUILD/rightsize" RS_ROOT="$ROOT" RS_BUILD="$ROOT/$BUILD"
PY=/usr/bin/python3
passed=0 failed=0 skipped=0 failures=""

echo "== unit tests ($BUILD/run_tests)"
out=$("$ROOT/$BUILD/run_tests" 2>&1); rc=$?
printf '%s\n' "$out" | grep -v '^unit:'
line=$(printf '%s\n' "$out" | grep '^unit:' | tail -1)
p=$(printf '%s' "$line" | sed -n 's/^unit: \([0-9]*\) passed.*/\1/p')
f=$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')
if [ -z "$p" ]; then p=0; f=1; failures="$failures unit(crashed rc=$rc)"; fi
[ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ] && { f=1; failures="$failures unit(rc=$rc)"; }
passed=$((passed + p)); failed=$((failed + f))

for t in "$ROOT"/tests/e2e/*; do
    [ -f "$t" ] || continue
    name=${t#"$ROOT"/}
    case "$t" in
        *.sh) cmd="sh $t" ;;
        *.py) cmd="$PY $t" ;;
        *.mjs) cmd="node $t" ;;
        *) continue ;;
    esac
    echo "== $name"
    start=$(date +%s)
    $cmd; rc=$?
    secs=$(( $(date +%s) - start ))
    if [ $rc -eq 0 ]; then passed=$((passed + 1)); echo "   ok ($secs s)"
    elif [ $rc -eq 77 ]; then skipped=$((skipped + 1)); echo "   skipped"
    else failed=$((failed + 1)); failures="$failures $name"; echo "   FAIL rc=$rc ($secs s)"; fi
done

[ -n "$failures" ] && echo "failed:$failures"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
