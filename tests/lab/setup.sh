#!/usr/bin/env bash
# Installs what the network lab needs (iproute2, nftables; miniupnpd-nftables for the router
# port-mapping tests, see upnp.sh) when it is missing and this runs as root; otherwise says why
# the lab tests will be skipped. Never fails the run by itself.
#
# miniupnpd-nftables is only the daemon and its nft helper scripts: no debconf questions, no
# init script or unit, no maintainer scripts, so installing it starts nothing on the host (the
# `miniupnpd` package, which would, is deliberately not installed; nor is the iptables variant).
set -uo pipefail
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
[ -x /usr/sbin/miniupnpd ] || command -v miniupnpd >/dev/null || missing+=(miniupnpd-nftables)
if [ ${#missing[@]} -eq 0 ]; then
  echo "lab tools: present"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "lab tools missing (${missing[*]}) and not installable here: the lab tests needing them will be skipped"
  exit 0
fi
echo "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
install() { apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1; }
if ! install "${missing[@]}"; then
  apt-get update >/dev/null 2>&1
  # One at a time, so a missing miniupnpd only skips the port-mapping tests.
  for p in "${missing[@]}"; do
    install "$p" || echo "could not install $p: the lab tests needing it will be skipped"
  done
fi
exit 0
