#!/bin/sh
# The planner's output is serve's input: for every shipped workload, `rightsize plan --emit`
# writes a pipeline YAML that `rightsize serve --check` accepts; a broken reference in it is
# refused with the file, line and key.
set -u
BIN=${RS_BIN:-build/rightsize}
ROOT=${RS_ROOT:-.}
T=$(mktemp -d /tmp/rs-serve-emit.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
for w in "$ROOT"/data/workloads/*.yaml; do
    n=$(basename "$w" .yaml)
    if ! "$BIN" plan "$w" --quiet --horizon-hours 2 --emit "$T/$n.yaml" >"$T/$n.out" 2>&1; then
        echo "FAIL: plan $n: $(tail -3 "$T/$n.out")"; fails=$((fails + 1)); continue
    fi
    if ! "$BIN" serve --check "$T/$n.yaml" >"$T/$n.check" 2>&1; then
        echo "FAIL: serve --check on the plan for $n: $(cat "$T/$n.check")"; fails=$((fails + 1)); continue
    fi
    echo "ok: $n -> $(cat "$T/$n.check")"
done
f="$T/support-assistant.yaml"
if [ -f "$f" ]; then
    sed 's/^    tier: main$/    tier: mian/' "$f" >"$T/bad.yaml"
    if grep -q 'tier: mian' "$T/bad.yaml"; then
        out=$("$BIN" serve --check "$T/bad.yaml" 2>&1); rc=$?
        line=$(grep -n 'tier: mian' "$T/bad.yaml" | cut -d: -f1)
        case "$out" in
            *"bad.yaml:$line: key 'routes[0].tier': unknown tier 'mian' (tiers: main)"*) [ $rc -eq 1 ] || { echo "FAIL: rc $rc"; fails=$((fails + 1)); } ;;
            *) echo "FAIL: bad reference message: $out (want line $line)"; fails=$((fails + 1)) ;;
        esac
        echo "ok: a broken reference is refused: $out"
    else
        echo "FAIL: the emitted support-assistant plan has no 'tier: main' line to break"; fails=$((fails + 1))
    fi
fi
[ $fails -eq 0 ] && echo "all checks passed" && exit 0
echo "$fails checks failed"; exit 1
