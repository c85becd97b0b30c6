#!/bin/sh
# End-to-end: the documentation's examples run. Every ```yaml block of docs/workload.md is planned
# (it must load and produce a plan), and every `rightsize plan data/...` line of README.md runs as
# written (with a short horizon appended, in a scratch folder for the files it writes).
set -u
BIN=${RS_BIN:-build/rightsize}
ROOT=${RS_ROOT:-.}
PY=/usr/bin/python3
cd "$ROOT" || exit 1
ROOT=$(pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "plan_docs: FAIL: $*"; exit 1; }

$PY - "$ROOT/docs/workload.md" "$T" <<'PYEOF' || fail "cannot extract the yaml examples"
import re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
assert len(blocks) >= 4, len(blocks)
for i, b in enumerate(blocks):
    open(f"{sys.argv[2]}/example{i}.yaml", "w").write(b)
PYEOF
for f in "$T"/example*.yaml; do
    h=1; grep -q '^class: batch' "$f" && h=24   # a batch job runs at its start_hour: simulate the whole day
    "$BIN" plan "$f" --quiet --horizon-hours $h --keep 1 --catalog "$ROOT/data/catalog" > "$T/out.txt" 2> "$T/err.txt" \
        || fail "$(basename "$f") ($(sed -n 's/^name: //p' "$f")): plan exited $? ($(grep -v warning "$T/err.txt" | head -3))"
    grep -q "== Recommended plan" "$T/out.txt" || fail "$(basename "$f"): no plan"
    grep -q "No simulated candidate met" "$T/out.txt" && fail "$(sed -n 's/^name: //p' "$f"): no candidate meets its SLOs"
done
n=0
ln -s "$ROOT/data" "$T/data"
grep '^rightsize plan data/' README.md | sed 's/ *#.*$//' > "$T/readme.txt"
while IFS= read -r line; do
    n=$((n + 1))
    (cd "$T" && set -f && eval "\"$BIN\" ${line#rightsize } --quiet --horizon-hours 1 --keep 1" \
        > "$T/r$n.out" 2> "$T/r$n.err") || fail "README: '$line' exited $? ($(grep -v warning "$T/r$n.err" | head -2))"
done < "$T/readme.txt"
[ "$n" -ge 3 ] || fail "README has fewer plan examples than expected ($n)"
echo "plan_docs: ok ($(ls "$T"/example*.yaml | wc -l) workload examples, $n README lines)"
