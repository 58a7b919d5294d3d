#!/usr/bin/env bash
# Installs the tools that make the location fixtures of crates/kith/tests/location.rs, skipping
# what is already there: exiftool (libimage-exiftool-perl), heif-enc (libheif-examples) and
# ffmpeg, all from Debian.
# Usage: ./tests/media/setup.sh
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "need root to run: $*" >&2; return 1; fi; }

missing=()
command -v exiftool >/dev/null || missing+=(libimage-exiftool-perl)
command -v heif-enc >/dev/null || missing+=(libheif-examples)
command -v ffmpeg >/dev/null || missing+=(ffmpeg)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (apt; makes the location fixtures)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
exiftool -ver >/dev/null
