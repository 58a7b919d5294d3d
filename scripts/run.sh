#!/usr/bin/env bash
# Runs Kith for a new user: builds the node, installs Firefox's native-messaging manifest,
# creates your identity if you have none, starts a demo friend who shares an album of photos
# with you, and opens Firefox (a fresh profile) with the Kith add-on. Where there is no display,
# Firefox runs headless. Ctrl-C stops the demo friend and Firefox; your node keeps running
# (`kith stop` stops it).
# Usage: ./scripts/run.sh            KITH_NAME=Rose ./scripts/run.sh (name for a new identity)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }
if ! command -v cargo >/dev/null 2>&1; then
  echo "Kith needs Rust's cargo: install it from https://rustup.rs (or your package manager), then run this again." >&2
  exit 1
fi

say "Building kith (release)"
cargo build --release --quiet
KITH="$PWD/target/release/kith"

say "Installing the native-messaging manifest, so Firefox can start Kith"
"$KITH" install

if ! "$KITH" id >/dev/null 2>&1; then
  name="${KITH_NAME:-$(getent passwd "$(id -un)" | cut -d: -f5 | cut -d, -f1)}"
  name="${name:-$(id -un)}"
  say "Creating your identity as \"$name\" (set KITH_NAME to choose another name)"
  "$KITH" init --name "$name"
fi

# Firefox and web-ext (which loads the add-on into a fresh profile).
FIREFOX="$(command -v firefox-esr || command -v firefox || true)"
if [ -z "$FIREFOX" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  say "Installing firefox-esr"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq firefox-esr >/dev/null
  FIREFOX="$(command -v firefox-esr || true)"
fi
if [ -n "$FIREFOX" ] && [ ! -x node_modules/.bin/web-ext ]; then
  if command -v npm >/dev/null; then
    say "Installing web-ext (npm)"
    npm ci --silent --no-audit --no-fund
  else
    echo "npm is missing, so the add-on cannot be loaded for you: install Node.js and npm." >&2
  fi
fi

say "Starting a demo friend"
"$KITH" demo --friend &
demo=$!
cleanup() {
  trap - EXIT INT TERM
  kill -INT "$demo" 2>/dev/null || true
  wait "$demo" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
for _ in $(seq 1 100); do
  "$KITH" albums 2>/dev/null | grep -q "demo" && break
  kill -0 "$demo" 2>/dev/null || { echo "the demo friend could not start" >&2; exit 1; }
  sleep 0.2
done

if [ -z "$FIREFOX" ] || [ ! -x node_modules/.bin/web-ext ]; then
  echo "Firefox or web-ext is missing, so only the node and the demo friend run." >&2
  echo "Install firefox-esr (or firefox) and npm, or load extension/manifest.json from about:debugging." >&2
  echo "Press Ctrl-C to stop." >&2
  wait "$demo"
  exit 0
fi

args=(--source-dir extension --firefox "$FIREFOX" --no-reload --no-input --start-url about:blank)
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "No display found: running Firefox headless, with the add-on and the demo friend, until Ctrl-C." >&2
  echo "Use the command line meanwhile, e.g.: $KITH friends; $KITH albums" >&2
  args+=(--arg=-headless)
fi
say "Opening Firefox with the Kith add-on (a fresh profile; Ctrl-C to stop)"
node_modules/.bin/web-ext run "${args[@]}"
