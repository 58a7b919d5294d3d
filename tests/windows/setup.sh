#!/usr/bin/env bash
# Installs what the Windows stage (tests/windows/run.sh) needs, skipping what is already there:
# the mingw-w64 linker (gcc-mingw-w64-x86-64) and Wine (wine64) from Debian, Rust's
# x86_64-pc-windows-gnu target; then builds the bcryptprimitives.dll shim (tests/windows/shim:
# Debian's Wine 8 lacks the ProcessPrng that Rust's standard library imports) into
# target/windows-shim/, where tests/windows/wine.sh finds it.
# Usage: ./tests/windows/setup.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "need root to run: $*" >&2; return 1; fi; }

missing=()
command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=(gcc-mingw-w64-x86-64)
[ -x /usr/lib/wine/wine64 ] || missing+=(wine64)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (apt; cross-builds and runs the Windows tests)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu; then
  rustup target add x86_64-pc-windows-gnu
fi
mkdir -p target/windows-shim
x86_64-w64-mingw32-gcc -shared -O2 -o target/windows-shim/bcryptprimitives.dll \
  tests/windows/shim/bcryptprimitives.c tests/windows/shim/bcryptprimitives.def
echo "windows tools: $(x86_64-w64-mingw32-gcc --version | head -1); $(/usr/lib/wine/wine64 --version)"
