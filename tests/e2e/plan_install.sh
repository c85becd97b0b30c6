#!/bin/sh
# End-to-end: an installed `rightsize plan` finds its data away from the source tree — in
# <prefix>/share/rightsize next to <prefix>/bin (the layout `make install` writes) and in
# $RIGHTSIZE_DATA — and says where it looked when it finds none.
set -u
BIN=${RS_BIN:-build/rightsize}
ROOT=${RS_ROOT:-.}
cd "$ROOT" || exit 1
ROOT=$(pwd)
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "plan_install: FAIL: $*"; exit 1; }

mkdir -p "$T/prefix/bin" "$T/prefix/share/rightsize" "$T/elsewhere" "$T/env/catalog" "$T/lone"
cp "$BIN" "$T/prefix/bin/rightsize"
cp -R data/catalog data/workloads "$T/prefix/share/rightsize/"
# The shipped prices load without a warning: give the installed copy one (a spot rate from another
# provider than its on-demand) so the message's file name can be checked.
awk '!done && /kind: spot/ && /provider: aws/ { sub(/provider: aws/, "provider: another-cloud"); done = 1 } { print }' \
    data/catalog/hardware.yaml > "$T/prefix/share/rightsize/catalog/hardware.yaml"
cd "$T/elsewhere" || exit 1
"$T/prefix/bin/rightsize" plan "$T/prefix/share/rightsize/workloads/embedding-service.yaml" --quiet --horizon-hours 1 \
    > out.txt 2> err.txt || fail "installed plan exited $? ($(cat err.txt))"
grep -q "== Recommended plan" out.txt || fail "installed plan printed no plan"
grep -q "share/rightsize/catalog/hardware.yaml" err.txt || fail "warnings should name the installed catalog: $(head -2 err.txt)"
# RIGHTSIZE_DATA wins over the install; a catalog there with one device shows in the plan.
cp "$ROOT"/data/catalog/models.yaml "$ROOT"/data/catalog/stacks.yaml "$T/env/catalog/"
sed -n '/^hardware:/,/^  - id: h200$/p' "$ROOT/data/catalog/hardware.yaml" | sed '$d' > "$T/env/catalog/hardware.yaml"
RIGHTSIZE_DATA="$T/env" "$T/prefix/bin/rightsize" plan "$ROOT/data/workloads/embedding-service.yaml" --quiet \
    --horizon-hours 1 --json > env.json 2> err.txt || fail "RIGHTSIZE_DATA plan exited $? ($(cat err.txt))"
grep -q '"hardware":[[:space:]]*"h100-sxm"' env.json || fail "RIGHTSIZE_DATA catalog (h100-sxm only) not used"
grep -q '"hardware":[[:space:]]*"cpu-' env.json && fail "RIGHTSIZE_DATA catalog should hold no CPU"
# A binary with no data anywhere says where it looked.
cp "$BIN" "$T/lone/rightsize"
cd "$T/lone" || exit 1
RIGHTSIZE_DATA="$T/none" ./rightsize plan "$ROOT/data/workloads/embedding-service.yaml" --quiet > /dev/null 2> err.txt
rc=$?
if [ -d /usr/local/share/rightsize/catalog ]; then echo "plan_install: ok (an install in /usr/local hides the no-data case)"; exit 0; fi
[ $rc -eq 1 ] || fail "no catalog should exit 1, got $rc"
grep -q "no catalog found" err.txt && grep -q "RIGHTSIZE_DATA" err.txt || fail "no-catalog message: $(cat err.txt)"
echo "plan_install: ok"
