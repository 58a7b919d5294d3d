#!/usr/bin/env bash
# Builds the .deb (`cargo deb -p kith`), checks it holds every path issue 20 promises and that
# the shipped manifests and unit are the committed ones, runs lintian (an error fails), and as
# root installs it with apt, checks the installed unit with `systemd-analyze verify` (man page
# included) and `kith --version`, then removes it. Last, `cargo install --path` reusing the
# build. Prints how long each step took. Needs tests/package/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
step() { echo "--- $1 ($((SECONDS - t0))s so far)"; }
t0=$SECONDS
tmp=$(mktemp -d)
installed=""
cleanup() {
  [ -z "$installed" ] || apt-get remove -y -o DPkg::Lock::Timeout=300 kith >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

step "cargo deb -p kith"
rm -f "$CARGO_TARGET_DIR"/debian/kith_*.deb
cargo deb -p kith --locked --quiet
debs=("$CARGO_TARGET_DIR"/debian/kith_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || { echo "expected one kith_*.deb, found: ${debs[*]}" >&2; exit 1; }
deb=${debs[0]}
echo "$deb: $(du -h "$deb" | cut -f1)"

step "contents (dpkg-deb -c)"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/list"
fail=0
for p in \
  /usr/bin/kith \
  /usr/lib/mozilla/native-messaging-hosts/kith.json \
  /etc/chromium/native-messaging-hosts/kith.json \
  /etc/opt/chrome/native-messaging-hosts/kith.json \
  /etc/opt/edge/native-messaging-hosts/kith.json \
  /usr/lib/systemd/user/kith.service \
  /usr/share/man/man1/kith.1.gz \
  /usr/share/man/man1/kith-serve.1.gz \
  /usr/share/bash-completion/completions/kith \
  /usr/share/zsh/vendor-completions/_kith \
  /usr/share/fish/vendor_completions.d/kith.fish \
  /usr/share/doc/kith/changelog.Debian.gz \
  /usr/share/doc/kith/copyright; do
  grep -qxF "$p" "$tmp/list" || { echo "missing from the .deb: $p" >&2; fail=1; }
done
[ $fail -eq 0 ] || exit 1
echo "all $(grep -c . "$tmp/list") entries listed; every promised path is there"
# The shipped manifests and unit are the committed ones (tests/packaging.rs keeps those fresh).
mkdir "$tmp/root"
dpkg-deb -x "$deb" "$tmp/root"
cmp "$tmp/root/usr/lib/mozilla/native-messaging-hosts/kith.json" packaging/firefox/kith.json
for d in chromium opt/chrome opt/edge; do
  cmp "$tmp/root/etc/$d/native-messaging-hosts/kith.json" packaging/chromium/kith.json
done
cmp "$tmp/root/usr/lib/systemd/user/kith.service" packaging/kith.service
if readelf -S "$tmp/root/usr/bin/kith" | grep -qE '\.debug_|\.symtab'; then
  echo "/usr/bin/kith is not stripped" >&2
  exit 1
fi
"$tmp/root/usr/bin/kith" --version

step "lintian"
lintian --fail-on error --tag-display-limit 0 "$deb"
echo "lintian: no errors"

if [ "$(id -u)" = 0 ]; then
  step "install (apt-get install ./DEB), verify the unit, remove"
  if dpkg -s kith >/dev/null 2>&1; then
    echo "a kith package is installed already: not touching it" >&2
    [ "${CI:-}" != true ] || exit 1
  else
    installed=1
    apt-get install -y -o DPkg::Lock::Timeout=300 "$(realpath "$deb")" >/dev/null
    [ "$(command -v kith)" = /usr/bin/kith ] || { echo "kith is not /usr/bin/kith on PATH" >&2; exit 1; }
    kith --version
    mkdir -m 700 "$tmp/run"
    out=$(XDG_RUNTIME_DIR="$tmp/run" systemd-analyze --user verify /usr/lib/systemd/user/kith.service 2>&1) || {
      echo "$out" >&2; exit 1; }
    # Unknown keys and bad values are warnings with exit 0: any line naming the unit fails.
    if grep -q kith <<<"$out"; then echo "$out" >&2; exit 1; fi
    echo "systemd-analyze verify: ok (with the installed binary and man page)"
    apt-get remove -y -o DPkg::Lock::Timeout=300 kith >/dev/null
    installed=""
    [ ! -e /usr/bin/kith ] || { echo "/usr/bin/kith left after removal" >&2; exit 1; }
    echo "removed"
  fi
else
  echo "not root: the install round trip is skipped"
  [ "${CI:-}" != true ] || exit 1
fi

step "cargo install --path crates/kith (reusing the deb build)"
cargo install --path crates/kith --profile deb --locked --quiet --root "$tmp/install"
"$tmp/install/bin/kith" --version
echo "package checks passed in $((SECONDS - t0))s"
