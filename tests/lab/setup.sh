#!/usr/bin/env bash
# Installs what the network lab needs (iproute2, nftables) when it is missing and this runs as
# root; otherwise says why the lab tests will be skipped. Never fails the run by itself.
set -uo pipefail
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
if [ ${#missing[@]} -eq 0 ]; then
  echo "lab tools: present"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "lab tools missing (${missing[*]}) and not installable here: the lab tests will be skipped"
  exit 0
fi
echo "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  apt-get update >/dev/null 2>&1 && apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || echo "could not install ${missing[*]}: the lab tests will be skipped"
fi
exit 0
