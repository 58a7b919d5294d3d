#!/usr/bin/env bash
# Installs what the browser tests need, skipping what is already there:
# firefox-esr and ffmpeg (Debian), geckodriver (crates.io), selenium + pytest (PyPI), web-ext + eslint (npm).
# Usage: ./tests/browser/setup.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "need root to run: $*" >&2; return 1; fi; }

if ! command -v firefox-esr >/dev/null && ! command -v firefox >/dev/null; then
  echo "installing firefox-esr (apt)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq firefox-esr >/dev/null
fi

if ! command -v ffmpeg >/dev/null; then
  echo "installing ffmpeg (apt; makes the WebM video fixtures)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null
fi

if ! geckodriver --version >/dev/null 2>&1; then
  echo "installing geckodriver (cargo install, a few minutes the first time)"
  cargo install --locked --quiet geckodriver
fi

if ! python3 -c 'import selenium, pytest' 2>/dev/null; then
  echo "installing selenium and pytest (pip)"
  python3 -m pip install --quiet --disable-pip-version-check -r tests/browser/requirements.txt
fi

if [ ! -x node_modules/.bin/web-ext ] || [ ! -x node_modules/.bin/eslint ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing web-ext and eslint (npm)"
  npm ci --silent --no-audit --no-fund
fi
