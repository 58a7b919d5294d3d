#!/usr/bin/env bash
# Cargo's runner for x86_64-pc-windows-gnu (.cargo/config.toml): runs a Windows .exe under
# Wine, with the bcryptprimitives.dll shim (tests/windows/shim, built by setup.sh) beside it.
set -euo pipefail
exe=$1
root="$(cd "$(dirname "$0")/../.." && pwd)"
shim="${KITH_WIN_SHIM:-$root/target/windows-shim/bcryptprimitives.dll}"
# Beside the test binary (debug/deps/) and, for the kith.exe the tests start, in debug/.
dir="$(dirname "$exe")"
dirs=("$dir")
[ "$(basename "$dir")" = deps ] && dirs+=("$(dirname "$dir")")
for d in "${dirs[@]}"; do
  if [ ! -f "$d/bcryptprimitives.dll" ]; then
    [ -f "$shim" ] || { echo "missing $shim: run tests/windows/setup.sh" >&2; exit 1; }
    cp "$shim" "$d/"
  fi
done
export WINEDEBUG="${WINEDEBUG:--all}"
exec "${WINE:-/usr/lib/wine/wine64}" "$@"
