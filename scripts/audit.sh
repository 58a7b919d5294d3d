#!/usr/bin/env bash
# Dependency audit (hardening item 5). Exits nonzero if any check fails.
#  1. cargo-deny (installed if missing): licences, bans and sources, as deny.toml says.
#  2. Known advisories, when a RustSec advisory database is on disk: `cargo audit` if it is
#     installed, and cargo-deny's `advisories` check. The database is never fetched (the
#     network may reach only package registries); without one the check is skipped, and says so.
#  3. Minimum versions in Cargo.lock for crates with advisories fixed inside the range that
#     crates/*/Cargo.toml allow, so a downgrade is caught even without the database.
# Usage: scripts/audit.sh
#   KITH_AUDIT_NO_INSTALL=1  do not install cargo-deny when missing (then its checks are skipped)
#   KITH_ADVISORY_DB=DIR  a checkout of the RustSec advisory-db repository
#                         (default: $CARGO_HOME/advisory-db, where `cargo audit` keeps it)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
fail=0

# 1. Licences, bans, sources.
if ! cargo deny --version >/dev/null 2>&1 && [ "${KITH_AUDIT_NO_INSTALL:-0}" != 1 ]; then
  # A debug build: about 1.5 minutes on 2 cores instead of 4-10 for a release one, and the
  # checks below still take only seconds.
  echo "==> installing cargo-deny (a debug build, about 1.5 minutes on 2 cores)"
  cargo install cargo-deny --locked --debug
fi
if cargo deny --version >/dev/null 2>&1; then
  echo "==> $(cargo deny --version): check bans licenses sources"
  cargo deny --locked check --hide-inclusion-graph bans licenses sources || fail=1  # duplicates warn
else
  echo "==> cargo deny: SKIPPED (not installed and KITH_AUDIT_NO_INSTALL=1; scripts/audit.sh installs it)"
fi

# 2. Advisories.
db=${KITH_ADVISORY_DB:-$CARGO_HOME/advisory-db}
if [ -d "$db/crates" ] && git -C "$db" rev-parse HEAD >/dev/null 2>&1; then
  db=$(cd "$db" && pwd)
  last=$(git -C "$db" log -1 --format=%cs)
  echo "==> advisories from $db (last change $last)"
  if [ "$(git -C "$db" log -1 --format=%ct)" -lt $(($(date +%s) - 90 * 86400)) ]; then
    echo "WARNING: the advisory database is over 90 days old: advisories since $last are not checked"
  fi
  if cargo audit --version >/dev/null 2>&1; then
    # --stale: the age is reported above; unmaintained notices are warnings, not failures.
    cargo audit --db "$db" --no-fetch --stale || fail=1
  else
    echo "cargo audit: not installed (cargo install cargo-audit --locked); cargo-deny checks the same database"
  fi
  # cargo-deny looks for the database under db-path (deny.toml) in a folder named after its URL.
  dbs=$(mktemp -d)
  trap 'rm -rf "$dbs"' EXIT
  ln -s "$db" "$dbs/advisory-db-3157b0e258782691"
  KITH_ADVISORY_DBS=$dbs cargo deny --frozen check advisories || fail=1  # --frozen: no fetching
else
  echo "==> advisories: SKIPPED: no RustSec advisory database at $db (set KITH_ADVISORY_DB)."
  echo "    It is a git repository that is not fetched here; the minimum versions below stand in."
fi

# 3. Minimum versions: "crate minimum advisory". A locked version in the minimum's series
#    (same major, or same 0.minor) must be >= it; an older series fails, a newer one passes.
echo "==> minimum versions in Cargo.lock"
python3 - Cargo.lock <<'EOF' || fail=1
import re, sys
MINIMUMS = """
quinn-proto         0.11.15  RUSTSEC-2026-0037 (panic on a malformed Initial), RUSTSEC-2026-0185 (reassembly OOM)
rustls              0.23.18  RUSTSEC-2024-0399 (panic in Acceptor::accept)
rustls-webpki       0.103.13 RUSTSEC-2026-0049, -0098, -0099, -0104 (CRL and name constraints, CRL parsing panic)
ring                0.17.12  RUSTSEC-2025-0009 (AES panic with overflow checks)
tokio               1.44.2   RUSTSEC-2025-0023 (broadcast channel unsound)
h2                  0.4.16   RUSTSEC-2026-0258 (unbounded empty DATA frames)
bytes               1.11.1   RUSTSEC-2026-0007 (overflow in BytesMut::reserve)
time                0.3.47   RUSTSEC-2026-0009 (RFC 2822 parsing stack exhaustion)
tracing-subscriber  0.3.20   RUSTSEC-2025-0055 (ANSI escapes from logged input)
anyhow              1.0.103  RUSTSEC-2026-0190 (downcast_mut unsound)
rand                0.8.6    RUSTSEC-2026-0097 (unsound with a custom logger)
rand                0.10.1   RUSTSEC-2026-0097
lru                 0.18.2   RUSTSEC-2026-0253 (use-after-free in pop)
slab                0.4.11   RUSTSEC-2025-0047 (out-of-bounds get_disjoint_mut)
crossbeam-epoch     0.9.20   RUSTSEC-2026-0204 (invalid pointer in fmt::Pointer)
"""
def ver(s):
    nums = [int(x) for x in re.match(r"(\d+)\.(\d+)\.(\d+)", s).groups()]
    return tuple(nums) + ((0,) if "-" in s else (1,))  # a pre-release sorts before its release
def series(v):
    return v[:1] if v[0] else v[:2] if v[1] else v[:3]
lock = open(sys.argv[1]).read()
locked = re.findall(r'\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"', lock)
rows = [line.split(None, 2) for line in MINIMUMS.strip().splitlines()]
bad = 0
for name in dict.fromkeys(r[0] for r in rows):
    mins = [ver(r[1]) for r in rows if r[0] == name]
    found = [v for n, v in locked if n == name]
    if not found:
        print(f"  -    {name} (not in Cargo.lock)")
    for v in found:
        same = [m for m in mins if series(m) == series(ver(v))]
        ok = ver(v) >= same[0] if same else ver(v) > max(mins)
        bad += not ok
        need = ".".join(map(str, (same or [max(mins)])[0][:3]))
        print(f"  {'ok  ' if ok else 'FAIL'} {name} {v} (>= {need})")
sys.exit(1 if bad else 0)
EOF

[ "$fail" = 0 ] && echo "audit: all checks passed" || echo "audit: FAILED" >&2
exit "$fail"
