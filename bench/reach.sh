#!/usr/bin/env bash
# Times how long friends take to connect in the network lab (tests/lab/lab.sh), per case:
# LAN (mDNS, stale addresses), cone <-> cone (hole punching through a mutual friend),
# cone <-> symmetric (relay through a mutual friend, then the upgrade to a router port mapping),
# a friend that moved found through the lab's Mainline DHT, and a node reached through its
# router's port mapping (UPnP/NAT-PMP/PCP, miniupnpd in the router). Runs the lab tests
# (crates/kith/tests/lab.rs) N times (release build) and prints each run's figures and the
# median, min and max per case. A figure counts only if its test passed.
# Each test brings the lab up and down itself, holding /tmp/kith-lab.lock meanwhile (so this
# script must not hold it around them); it starts its nodes with the DHT off (KITH_NO_DHT=1)
# unless the case is about the DHT, and then points them at a lab DHT of its own
# (target/release/examples/lab_dht in kk-pub; KITH_DHT_BOOTSTRAP).
# Needs root, iproute2, nftables and miniupnpd (./tests/lab/setup.sh installs them).
# Usage: ./bench/reach.sh [RUNS]     (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
[ "$(id -u)" = 0 ] || { echo "the lab needs root" >&2; exit 1; }
./tests/lab/setup.sh >/dev/null
cargo build --release --quiet --tests
cargo build --release --quiet -p kith --example lab_dht  # the lab DHT (cargo test --test lab does not build examples)
log=$(mktemp)
out=$(mktemp)
trap 'rm -f "$log" "$out"' EXIT
# Interrupted, a test cannot bring its lab down: do it, in turn with other users of the lab.
trap 'flock /tmp/kith-lab.lock ./tests/lab/lab.sh down >/dev/null 2>&1; exit 130' INT TERM

# Case: label, the line the test prints (its number of ms is the figure), the test.
cases=(
  "LAN, stale addresses (mDNS)|LAN: reconnected by mDNS in|friends_on_one_lan_with_stale_addresses_find_each_other_by_mdns"
  "cone <-> cone (punched via a mutual friend)|cone-cone: punched through in|friends_behind_two_cone_nats_connect_directly_by_hole_punching_through_a_mutual_friend"
  "cone <-> symmetric (relayed by a friend)|cone-symmetric: connected through the relay in|a_friend_behind_a_symmetric_nat_is_reached_through_a_relaying_mutual_friend"
  "  then relayed -> mapped (UPnP turned on)|relayed -> mapped: upgraded|a_friend_behind_a_symmetric_nat_is_reached_through_a_relaying_mutual_friend"
  "DHT, moved friend: both started|DHT: found and connected|a_friend_that_moved_is_found_again_through_the_dht_and_a_stranger_finds_nothing"
  "DHT, moved friend: A restarted on a new port|DHT: a moved friend found again|a_friend_that_moved_is_found_again_through_the_dht_and_a_stranger_finds_nothing"
  "mapped (UPnP router), invite accepted|mapped: A connected to B through [0-9.:]* in|a_node_behind_a_upnp_router_is_reached_through_its_port_mapping_and_found_again_after_moving"
  "  then moved behind its NAT (via the DHT)|DHT: a friend that moved behind its NAT found again|a_node_behind_a_upnp_router_is_reached_through_its_port_mapping_and_found_again_after_moving"
)
pattern=$(printf '%s\n' "${cases[@]}" | cut -d'|' -f2 | paste -sd'|')

failed=0
for i in $(seq 1 "$runs"); do
  cargo test --release --quiet --test lab -- --nocapture --test-threads 1 >"$out" 2>&1 || true
  # The tests that failed, from the summary: "failures:" then one indented name per line.
  fails=$(awk '/^failures:$/ {f = 1; next} f && /^    [a-z0-9_]+$/ {print $1}' "$out")
  grep -q '^test result: ' "$out" || fails="(no test result: cargo test did not finish)"
  for c in "${cases[@]}"; do
    IFS='|' read -r label line test <<<"$c"
    ms=$(grep -oE "$line [0-9]+ ms" "$out" | grep -oE '[0-9]+ ms$' | grep -oE '[0-9]+' | head -1 || true)
    if [ -n "$ms" ] && ! grep -qx "$test" <<<"$fails"; then
      echo "$label|$ms" >>"$log"
    fi
  done
  grep -oE "($pattern).*" "$out" | sed "s/^/run $i  /" || true
  if [ -n "$fails" ]; then
    failed=1
    echo "run $i  FAILED: $(paste -sd' ' <<<"$fails")"
    grep -A1 "^thread '.*' panicked at" "$out" | grep -v '^--$' | head -6 | cut -c1-300 | sed "s/^/run $i    /" || true
  fi
done

stats() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print "-"; else {m = NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%s (%s-%s, %d runs)", m, a[1], a[NR], NR}}'; }
echo
echo "time to connect over $runs runs, ms: median (min-max, runs that passed):"
for c in "${cases[@]}"; do
  IFS='|' read -r label _ _ <<<"$c"
  printf '  %-46s %s\n' "$label" "$(awk -F'|' -v l="$label" '$1 == l {print $2}' "$log" | stats)"
done
exit $failed
