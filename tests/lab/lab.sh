#!/usr/bin/env bash
# The network lab for Kith's reach tests: homes behind routers, built from network namespaces.
# Needs root, iproute2 and nftables. Every namespace is called kk-*; nothing outside them changes.
#
#   kk-net  the "internet": a bridge, 203.0.113.0/24, that routes nowhere else (its own .254)
#   kk-pub  a host with a public address, 203.0.113.10
#   kk-ra   a cone NAT router, WAN 203.0.113.1, home LAN 10.80.1.0/24 with three hosts on one
#           segment: kk-a 10.80.1.2, kk-l1 10.80.1.11, kk-l2 10.80.1.12
#   kk-rb   a cone NAT router, WAN 203.0.113.2, LAN 10.80.2.0/24: kk-b 10.80.2.2
#   kk-rc   a symmetric NAT router (a new random port per destination), WAN 203.0.113.3,
#           LAN 10.80.3.0/24: kk-c 10.80.3.2
#
# Usage: tests/lab/lab.sh up|down|status
#        tests/lab/lab.sh run NS COMMAND...   (a command inside one namespace)
#
# Facts this relies on: a router drops unsolicited packets from its WAN side before connection
# tracking confirms them, so an early packet from a peer leaves no entry that would make the
# NAT pick another port (cone-to-cone hole punching depends on it); bridges run without
# multicast snooping, so mDNS reaches every host of a segment; a router forwards a new packet
# from its WAN side only if a DNAT rule redirected it (`ct status dnat`), and it has none unless
# tests/lab/upnp.sh runs miniupnpd there, whose port mappings are such rules.
set -euo pipefail

NETS="kk-net"
ROUTERS="kk-ra kk-rb kk-rc"
HOSTS="kk-pub kk-a kk-l1 kk-l2 kk-b kk-c"

# KITH_NETNS names the namespace: a `kith serve` run through this, under KITH_LOCAL_ONLY=1,
# may use the lab's addresses because it checks that it is in that namespace.
in_ns() { KITH_NETNS="$1" ip netns exec "$@"; }
exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

new_ns() {
  ip netns add "$1"
  in_ns "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$1" link set lo up
}

bridge() {
  ip -n "$1" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
  ip -n "$1" link set br0 up
}

# wire A_NS A_IF B_NS B_IF: a veth pair with one end in each namespace; B's end joins B's br0.
wire() {
  ip -n "$1" link add name "$2" type veth peer name "$4" netns "$3"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
  ip -n "$3" link set "$4" master br0
}

router() { # router NS WAN_ADDR LAN_PREFIX cone|symmetric
  local ns=$1 wan=$2 lan=$3 kind=$4 nat=masquerade
  new_ns "$ns"
  in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1
  wire "$ns" wan0 kk-net "w-${ns#kk-}"
  ip -n "$ns" addr add "$wan/24" dev wan0
  ip -n "$ns" route add default via 203.0.113.254
  bridge "$ns"
  ip -n "$ns" addr add "$lan.1/24" dev br0
  [ "$kind" = symmetric ] && nat="masquerade random,fully-random"
  in_ns "$ns" nft -f - <<EOF
table ip lab {
  # Only the LAN's traffic: the router's own (miniupnpd's STUN check, see upnp.sh) keeps its ports.
  chain nat_out {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan0" ip saddr $lan.0/24 $nat
  }
  chain to_me {
    type filter hook input priority filter; policy accept;
    iifname "wan0" ct state established,related accept
    iifname "wan0" icmp type echo-request accept
    iifname "wan0" drop
  }
  chain through {
    type filter hook forward priority filter; policy accept;
    iifname "wan0" ct state established,related accept
    iifname "wan0" ct status dnat accept
    iifname "wan0" drop
  }
}
EOF
}

host() { # host NS ROUTER_NS ADDR GATEWAY
  new_ns "$1"
  wire "$1" eth0 "$2" "h-${1#kk-}"
  ip -n "$1" addr add "$3/24" dev eth0
  ip -n "$1" route add default via "$4"
}

down() {
  local ns pids
  for ns in $HOSTS $ROUTERS $NETS; do
    exists "$ns" || continue
    pids=$(ip netns pids "$ns" || true)
    if [ -n "$pids" ]; then
      kill $pids 2>/dev/null || true
      sleep 0.2
      kill -9 $(ip netns pids "$ns") 2>/dev/null || true
    fi
    ip netns del "$ns"
  done
  rm -rf /tmp/kith-lab-upnp  # state of tests/lab/upnp.sh (its miniupnpd died with the above)
}

up() {
  down
  new_ns kk-net
  in_ns kk-net sysctl -qw net.ipv4.ip_forward=1
  bridge kk-net
  ip -n kk-net addr add 203.0.113.254/24 dev br0
  ip -n kk-net route add unreachable default
  new_ns kk-pub
  ip -n kk-pub link add eth0 type veth peer name h-pub netns kk-net
  ip -n kk-pub link set eth0 up
  ip -n kk-net link set h-pub up master br0
  ip -n kk-pub addr add 203.0.113.10/24 dev eth0
  ip -n kk-pub route add default via 203.0.113.254
  router kk-ra 203.0.113.1 10.80.1 cone
  router kk-rb 203.0.113.2 10.80.2 cone
  router kk-rc 203.0.113.3 10.80.3 symmetric
  host kk-a kk-ra 10.80.1.2 10.80.1.1
  host kk-l1 kk-ra 10.80.1.11 10.80.1.1
  host kk-l2 kk-ra 10.80.1.12 10.80.1.1
  host kk-b kk-rb 10.80.2.2 10.80.2.1
  host kk-c kk-rc 10.80.3.2 10.80.3.1
}

status() {
  local ns ok=0
  for ns in $NETS $ROUTERS $HOSTS; do
    if exists "$ns"; then
      printf '%-7s up    %s\n' "$ns" "$(ip -n "$ns" -4 -o addr show scope global | awk '{printf "%s ", $4}')"
    else
      printf '%-7s down\n' "$ns"
      ok=1
    fi
  done
  return $ok
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  run) shift; ns=$1; shift; in_ns "$ns" "$@" ;;
  *) echo "usage: $0 up|down|status|run NS COMMAND..." >&2; exit 2 ;;
esac
