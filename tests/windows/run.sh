#!/usr/bin/env bash
# The Windows stage: builds for x86_64-pc-windows-gnu and runs under Wine (.cargo/config.toml
# names tests/windows/wine.sh as the runner) the unit tests of kith-proto, kith-node and kith
# (lib and bin), and the multi-process tests crates/kith/tests/cli.rs and friends.rs; checks
# that `kith.exe --version` prints the version. Prints per test binary how many tests ran and
# passed. A debug build without optional features keeps it lean. Run tests/windows/setup.sh first.
# Usage: ./tests/windows/run.sh [--no-run]   (--no-run: only build the tests, as CI does in
# the background while the Linux tests run)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TERM_COLOR=never WINEDEBUG=-all KITH_LOCAL_ONLY=1
target=x86_64-pc-windows-gnu
# A target folder of its own: cargo locks its folder while it builds, and CI builds this in
# the background while the Linux tests run from target/debug.
export CARGO_TARGET_DIR=target/windows
# No debug info: it is most of a debug build's time, and a failing test's message is enough.
export CARGO_PROFILE_DEV_DEBUG=0
log=target/windows-tests.log
mkdir -p target

# Wine makes its prefix (~/.wine) on first use; do it here so no test's time limit pays for it.
/usr/lib/wine/wine64 cmd /c exit 0 >/dev/null 2>&1 || true

packages=(-p kith-proto -p kith-node -p kith --lib --bins --test cli --test friends)
if [ "${1:-}" = --no-run ]; then
  exec cargo test --locked --target "$target" --no-run "${packages[@]}"
fi

rc=0
# Bounded: a test that hangs under Wine ends the stage after 15 minutes instead of CI.
timeout --kill-after=10 900 cargo test --locked --target "$target" --no-fail-fast "${packages[@]}" \
  2>&1 | tee "$log" || rc=$?

echo
echo "Windows (Wine) test binaries: tests run, passed, failed, ignored"
awk '
  /Running / { bin = $NF; sub(/.*\//, "", bin); sub(/-[0-9a-f]+\.exe\)$/, "", bin); bin = bin " " $(NF - 1) }
  /^test result:/ {
    for (i = 1; i <= NF; i++) {
      if ($(i) ~ /^passed/) p = $(i - 1); if ($(i) ~ /^failed/) f = $(i - 1);
      if ($(i) ~ /^ignored/) g = $(i - 1)
    }
    printf "  %-24s %4d run  %4d passed  %3d failed  %3d ignored\n", bin, p + f, p, f, g
    tr += p + f; tp += p; tf += f
  }
  END { printf "  %-24s %4d run  %4d passed  %3d failed\n", "total", tr, tp, tf }
' "$log"

# The contract: the .exe prints its version under Wine.
want="kith $(cargo pkgid -p kith | sed 's/.*[#@]//')"
got="$(tests/windows/wine.sh "$CARGO_TARGET_DIR/$target/debug/kith.exe" --version | tr -d '\r')"
if [ "$got" = "$want" ]; then
  echo "kith.exe --version under Wine: $got"
else
  echo "kith.exe --version under Wine printed '$got', not '$want'" >&2
  rc=1
fi
exit "$rc"
