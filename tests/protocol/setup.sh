#!/usr/bin/env bash
# Installs what tests/protocol/check_vectors.py needs, skipping what is already there:
# the `cryptography` package (PyPI) for Ed25519.
# Usage: ./tests/protocol/setup.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! python3 -c 'import cryptography.hazmat.primitives.asymmetric.ed25519' 2>/dev/null; then
  echo "installing cryptography (pip)"
  python3 -m pip install --quiet --disable-pip-version-check -r tests/protocol/requirements.txt
fi
