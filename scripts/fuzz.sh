#!/usr/bin/env bash
# Fuzzes every decoder of outside bytes (targets in fuzz/fuzz_targets/) for a bounded time.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 60 s, every target)
# Works on the stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags).
# FUZZ_SANITIZER=none skips AddressSanitizer (faster; use it if ASan gives trouble).
# Prints runs per target and ok/crash; exits nonzero if any target crashed, with the
# input in fuzz/artifacts/<target>/ (replay: cargo fuzz run <target> <file>; once fixed,
# keep it in crates/kith/tests/fuzz-regressions/<target>/).
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift $(($# > 0 ? 1 : 0))
san=${FUZZ_SANITIZER:-address}
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked || exit 1
# Niced: fuzzing takes every core it is given.
fuzz() { (cd fuzz && nice -n 15 cargo fuzz "$@"); }
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(fuzz list)
# -a: debug assertions on, so integer overflows are found as crashes too.
fuzz build -a -s "$san" || exit 1
failed=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" fuzz/logs
  seeds=(); [ -d "fuzz/seeds/$t" ] && seeds=("$PWD/fuzz/seeds/$t")
  log="fuzz/logs/$t.log"
  # -timeout: one input taking over 20 s is a hang; -rss_limit_mb bounds memory.
  fuzz run -a -s "$san" "$t" "$PWD/fuzz/corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' || echo '?')
  if [ $rc -eq 0 ]; then
    printf '%-18s ok     %s runs in %s s\n' "$t" "$runs" "$secs"
  else
    printf '%-18s CRASH  see %s and fuzz/artifacts/%s/\n' "$t" "$log" "$t"
    failed=1
  fi
done
exit $failed
