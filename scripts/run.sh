#!/usr/bin/env bash
# Runs Kith for a new user: builds the node and starts the demo (two local nodes, befriended
# by invite, running until Ctrl-C). Usage: ./scripts/run.sh [--once]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  echo "Kith needs Rust's cargo: install it from https://rustup.rs (or your package manager), then run this again." >&2
  exit 1
fi
echo "Building kith (release)..." >&2
cargo build --release --quiet
exec ./target/release/kith demo "$@"
