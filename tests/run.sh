#!/usr/bin/env bash
# Installs what the tests need (skipping what is already there: firefox-esr, geckodriver,
# mingw-w64, wine64, selenium, pytest, cryptography, web-ext, eslint, cargo-deb, lintian) and runs
# every test: Rust, Windows under Wine, the package, lint, and the add-on in Firefox.
# Usage: ./tests/run.sh          Each stage prints how long it took.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# Every node started by a test refuses settings that would send anything off this machine
# (the harnesses set it too; the lab's nodes are exempt inside its namespaces).
export KITH_LOCAL_ONLY=1

declare -a SUMMARY=()
stage() { # stage NAME COMMAND...
  local name=$1; shift
  local t0=$SECONDS
  echo "==> $name"
  if "$@"; then
    SUMMARY+=("$(printf '%-28s %4ss  ok' "$name" $((SECONDS - t0)))")
  else
    local rc=$?
    SUMMARY+=("$(printf '%-28s %4ss  FAILED' "$name" $((SECONDS - t0)))")
    printf '%s\n' "${SUMMARY[@]}"
    echo "stage '$name' failed (exit $rc)" >&2
    exit "$rc"
  fi
}

need_tools() {
  command -v cargo >/dev/null || { echo "cargo is missing: install Rust from https://rustup.rs" >&2; return 1; }
  cargo --version
  if ! cargo fmt --version >/dev/null 2>&1; then
    rustup component add rustfmt 2>/dev/null || { echo "rustfmt is missing and could not be installed" >&2; return 1; }
  fi
  if ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add clippy 2>/dev/null || { echo "clippy is missing and could not be installed" >&2; return 1; }
  fi
}

stage "tools" need_tools
stage "cargo fmt --check" cargo fmt --all -- --check
stage "cargo clippy -D warnings" cargo clippy --workspace --all-targets --locked --features kith/test-faults -- -D warnings
stage "build" cargo build --workspace --all-targets --locked --features kith/test-faults
stage "dependency audit" ./scripts/audit.sh
stage "lab tools (install)" ./tests/lab/setup.sh
stage "media tools (install)" ./tests/media/setup.sh
stage "package tools (install)" ./tests/package/setup.sh
stage "windows tools (install)" ./tests/windows/setup.sh
# The Windows build compiles in the background, on one core at the lowest priority, while the
# Linux tests run (they spend much of their time waiting); its stage below then only runs it.
win_log=target/windows-build.log
nice -n 19 env CARGO_BUILD_JOBS=1 ./tests/windows/run.sh --no-run >"$win_log" 2>&1 &
win_build=$!
trap 'kill "$win_build" 2>/dev/null || true' EXIT
windows_stage() {
  local rc=0
  wait "$win_build" || rc=$?
  tail -n 3 "$win_log"
  [ "$rc" = 0 ] || { cat "$win_log"; return "$rc"; }
  ./tests/windows/run.sh
}
stage "cargo test" cargo test --workspace --locked --features kith/test-faults
stage "package (.deb + lintian)" env KITH_DEB_FROM=test-build ./tests/package/check.sh
stage "windows (wine)" windows_stage
stage "protocol vectors (install)" ./tests/protocol/setup.sh
stage "protocol vectors (python)" python3 tests/protocol/check_vectors.py
stage "browser tools (install)" ./tests/browser/setup.sh
stage "eslint + web-ext lint" npm run --silent lint
stage "web-ext build (.xpi)" npm run --silent build
stage "browser tests (firefox)" python3 -m pytest -q tests/browser

echo
echo "All stages passed:"
printf '%s\n' "${SUMMARY[@]}"
