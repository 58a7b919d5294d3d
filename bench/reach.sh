#!/usr/bin/env bash
# Times how long friends take to connect in the network lab (tests/lab/lab.sh), per case:
# LAN (mDNS, stale addresses), cone <-> cone (hole punching through a mutual friend) and
# cone <-> symmetric (relay through a mutual friend). Runs the lab tests N times (release
# build) and prints each run's figures and the median per case.
# Needs root, iproute2 and nftables (./tests/lab/setup.sh installs them).
# Usage: ./bench/reach.sh [RUNS]     (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
[ "$(id -u)" = 0 ] || { echo "the lab needs root" >&2; exit 1; }
./tests/lab/setup.sh >/dev/null
cargo build --release --quiet --tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for i in $(seq 1 "$runs"); do
  cargo test --release --quiet --test lab -- --nocapture --test-threads 1 2>&1 \
    | grep -oE '(LAN|cone-cone|cone-symmetric): .*' | tee -a "$log" | sed "s/^/run $i  /"
done
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
echo
echo "median time to connect over $runs runs (ms):"
printf '  %-44s %s\n' "LAN, stale addresses (mDNS)" "$(grep -o 'mDNS in [0-9]*' "$log" | grep -o '[0-9]*$' | median)"
printf '  %-44s %s\n' "cone <-> cone (punched via a mutual friend)" "$(grep -o 'punched through in [0-9]*' "$log" | grep -o '[0-9]*$' | median)"
printf '  %-44s %s\n' "cone <-> symmetric (relayed by a friend)" "$(grep -o 'relay in [0-9]*' "$log" | grep -o '[0-9]*$' | median)"
