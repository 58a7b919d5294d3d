#!/usr/bin/env bash
# Runs Debian's miniupnpd (package miniupnpd-nftables, installed by setup.sh) inside one router
# namespace of the lab, so hosts behind that router can map ports with UPnP-IGD, NAT-PMP or PCP.
# Needs root and a lab that is up (tests/lab/lab.sh up).
#
# Usage: tests/lab/upnp.sh start ROUTER_NS   e.g. kk-rb; prints where it listens
#        tests/lab/upnp.sh stop ROUTER_NS    kills it, removes its nftables table and state
#
# What start sets up in the router namespace:
#  - nftables table `inet miniupnpd` with the chains miniupnpd's nftables backend fills in
#    (names set in its config): `miniupnpd` (forward accepts), `prerouting_miniupnpd` (the DNAT
#    of each mapping) and `postrouting_miniupnpd`, each jumped to from a base chain here. The
#    lab's own `ip lab` table still sees every packet: its `through` chain accepts a packet from
#    wan0 only when conntrack says it was DNATed (`ct status dnat`), which only a mapping does.
#  - miniupnpd on the LAN side (br0, 10.80.N.1): SSDP on 239.255.255.250:1900 (answers
#    M-SEARCH for InternetGatewayDevice:1 and :2), HTTP description and SOAP control on port 5000
#    (http://10.80.N.1:5000/rootDesc.xml, an IGDv2 with WANIPConnection:2 at /ctl/IPConn),
#    NAT-PMP and PCP on UDP 5351; external interface wan0. Secure mode: a host maps only its own
#    address; mappings allowed from the router's LAN /24, ports 1024-65535 only.
#  - external address 203.0.113.x, learnt by STUN (see below). It is a TEST-NET address, which
#    some clients reject: miniupnpc's upnpc calls the gateway "not connected?" unless given -i.
# Its state (config, pid, lease file, log) lives in $STATE_ROOT/ROUTER_NS; lab.sh down kills
# every process of the namespaces and removes $STATE_ROOT too.
set -euo pipefail

STATE_ROOT=/tmp/kith-lab-upnp
HTTP_PORT=5000

usage() { echo "usage: $0 start|stop ROUTER_NS" >&2; exit 2; }
[ $# -eq 2 ] || usage
verb=$1 ns=$2 dir=$STATE_ROOT/$2
in_ns() { ip netns exec "$ns" "$@"; }

stop() {
  local pid
  if [ -f "$dir/pid" ] && pid=$(cat "$dir/pid") && in_ns kill "$pid" 2>/dev/null; then
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  in_ns nft delete table inet miniupnpd 2>/dev/null || true
  rm -rf "$dir"
}

start() {
  command -v miniupnpd >/dev/null || { echo "miniupnpd missing (tests/lab/setup.sh installs it)" >&2; exit 1; }
  ip netns list | awk '{print $1}' | grep -qx "$ns" || { echo "no namespace $ns (lab.sh up?)" >&2; exit 1; }
  stop
  local lan
  lan=$(ip -n "$ns" -4 -o addr show dev br0 | awk '{print $4}')  # e.g. 10.80.2.1/24
  [ -n "$lan" ] || { echo "$ns has no br0 address: not a lab router" >&2; exit 1; }
  mkdir -p "$dir"
  in_ns nft -f - <<'EOF'
table inet miniupnpd {
  chain forward {
    type filter hook forward priority filter; policy accept;
    jump miniupnpd
  }
  chain miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    jump prerouting_miniupnpd
  }
  # Before the lab's masquerade (srcnat), so a mapping's own source NAT rule, if any, wins.
  chain postrouting {
    type nat hook postrouting priority srcnat - 1; policy accept;
    jump postrouting_miniupnpd
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
}
EOF
  # The lab's WAN addresses are TEST-NET-3 (203.0.113.0/24), which miniupnpd counts as
  # "reserved": it then refuses every mapping, and refuses ext_ip= with such an address too. The
  # only way around it is its STUN check (ext_perform_stun), which trusts what a STUN server
  # reports; it runs once at start (again only if wan0's address changes). So a tiny STUN
  # responder (perl-base, always on Debian) runs on the lab's "internet", 203.0.113.254:3478 in
  # kk-net, just while miniupnpd starts. It answers every Binding request with MAPPED-ADDRESS =
  # the request's source, from its one address (miniupnpd's change-IP/port requests get the same
  # answer, which it reads as "no NAT, no filtering": port forwarding enabled).
  in_ns_net() { ip netns exec kk-net "$@"; }
  # shellcheck disable=SC2016 # perl code, expanded by perl
  in_ns_net setsid perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(LocalAddr => "203.0.113.254", LocalPort => 3478, Proto => "udp")
      or die "stun responder: $!";
    alarm 15;
    while (defined(my $peer = $s->recv(my $m, 1500))) {
      next unless length($m) >= 20 && substr($m, 0, 2) eq "\x00\x01";
      my ($port, $ip) = Socket::sockaddr_in($peer);
      $s->send("\x01\x01\x00\x0c" . substr($m, 4, 16) . "\x00\x01\x00\x08\x00\x01" . pack("n", $port) . $ip, 0, $peer);
    }' </dev/null >"$dir/stun.log" 2>&1 &
  local stun=$!
  for _ in $(seq 50); do
    [ -n "$(in_ns_net ss -Hlun 'sport = :3478')" ] && break
    sleep 0.05
  done
  cat >"$dir/miniupnpd.conf" <<EOF
ext_ifname=wan0
ext_perform_stun=yes
ext_stun_host=203.0.113.254
ext_stun_port=3478
listening_ip=br0
http_port=$HTTP_PORT
enable_upnp=yes
enable_natpmp=yes
ipv6_disable=yes
secure_mode=yes
system_uptime=yes
notify_interval=30
uuid=$(cat /proc/sys/kernel/random/uuid)
friendly_name=Kith lab router $ns
lease_file=$dir/leases
minissdpdsocket=$dir/minissdpd.sock
upnp_table_name=miniupnpd
upnp_nat_table_name=miniupnpd
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
allow 1024-65535 $lan 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
EOF
  # -d: stay in the foreground (logging to stderr, kept in $dir/log); setsid + & detaches it.
  in_ns setsid miniupnpd -d -f "$dir/miniupnpd.conf" -P "$dir/pid" </dev/null >"$dir/log" 2>&1 &
  for _ in $(seq 100); do
    if grep -q 'Listening for NAT-PMP' "$dir/log" 2>/dev/null && [ -s "$dir/pid" ]; then
      kill "$stun" 2>/dev/null || true
      grep -q 'Port forwarding is now enabled' "$dir/log" \
        || echo "warning: miniupnpd in $ns has port forwarding disabled (see $dir/log)" >&2
      echo "miniupnpd in $ns: SSDP on br0, http://${lan%/*}:$HTTP_PORT/rootDesc.xml, NAT-PMP/PCP ${lan%/*}:5351 (log $dir/log)"
      return 0
    fi
    sleep 0.1
  done
  kill "$stun" 2>/dev/null || true
  echo "miniupnpd did not start in $ns:" >&2
  cat "$dir/log" >&2
  stop
  exit 1
}

case "$verb" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
