#!/usr/bin/env bash
# Installs what the package checks need, skipping what is there: cargo-deb (cargo install
# --locked), and with apt (as root) lintian, dpkg-dev (dpkg-shlibdeps, for the package's
# dependencies), systemd (systemd-analyze, for tests/packaging.rs and check.sh) and man-db
# (`systemd-analyze verify` looks up the unit's man page). Fails when something cannot be had.
set -euo pipefail
if ! cargo deb --version >/dev/null 2>&1; then
  echo "installing cargo-deb"
  cargo install cargo-deb --locked --quiet
fi
cargo deb --version
missing=()
command -v lintian >/dev/null || missing+=(lintian)
command -v dpkg-shlibdeps >/dev/null || missing+=(dpkg-dev)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v man >/dev/null || missing+=(man-db)
if [ ${#missing[@]} -eq 0 ]; then
  echo "package tools: present"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root" >&2
  exit 1
fi
echo "installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 "$@" >/dev/null; }
apt_install "${missing[@]}" || { apt-get update -o DPkg::Lock::Timeout=300 >/dev/null && apt_install "${missing[@]}"; }
