#!/usr/bin/env bash
# Builds the .deb (`cargo deb -p kith`), checks it holds every path issue 20 promises and that
# the shipped manifests and unit are the committed ones, runs lintian (an error fails), and as
# root installs it with apt, checks the installed unit with `systemd-analyze verify` (man page
# included) and `kith --version`, then removes it. Last, `cargo install --path` reusing the
# build. Prints how long each step took. Needs tests/package/setup.sh first.
# KITH_DEB_FROM=test-build (CI, tests/run.sh) packages the debug binary the build stage made
# (`--profile dev --no-build --strip --fast`: under a minute) instead of the shipped optimised
# build, profile `deb` (7 min on 2 cores): the same package but for the binary's speed and the
# test faults compiled in.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
case ${KITH_DEB_FROM:-release} in
  release) deb_args=(--profile deb) install_args=(--profile deb) ;;
  test-build) deb_args=(--profile dev --no-build --strip --fast) install_args=(--profile dev --features test-faults) ;;
  *) echo "KITH_DEB_FROM is release or test-build" >&2; exit 2 ;;
esac
step() { echo "--- $1 ($((SECONDS - t0))s so far)"; }
t0=$SECONDS
tmp=$(mktemp -d)
installed=""
cleanup() {
  [ -z "$installed" ] || apt-get purge -y -o DPkg::Lock::Timeout=300 kith >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

step "cargo deb -p kith ${deb_args[*]}"
rm -f "$CARGO_TARGET_DIR"/debian/kith_*.deb
cargo deb -p kith "${deb_args[@]}" --locked --quiet
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
if readelf -SW "$tmp/root/usr/bin/kith" | grep -qE ' \.(debug_info|symtab) '; then
  echo "/usr/bin/kith is not stripped" >&2
  exit 1
fi
"$tmp/root/usr/bin/kith" --version

step "lintian"
lintian --fail-on error --tag-display-limit 0 "$deb"
echo "lintian: no errors"

if [ "$(id -u)" = 0 ]; then
  step "install (apt-get install ./DEB), verify the unit, purge"
  if [ "$(dpkg-query -W -f '${Status}' kith 2>/dev/null)" = "install ok installed" ]; then
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
    apt-get purge -y -o DPkg::Lock::Timeout=300 kith >/dev/null
    installed=""
    for f in /usr/bin/kith /etc/chromium/native-messaging-hosts/kith.json /usr/lib/systemd/user/kith.service; do
      [ ! -e "$f" ] || { echo "$f left after apt-get purge" >&2; exit 1; }
    done
    echo "removed (apt-get purge)"
  fi
else
  echo "not root: the install round trip is skipped"
  [ "${CI:-}" != true ] || exit 1
fi

step "cargo install --path crates/kith ${install_args[*]} (reusing the build)"
cargo install --path crates/kith "${install_args[@]}" --locked --quiet --root "$tmp/install"
"$tmp/install/bin/kith" --version
echo "package checks passed in $((SECONDS - t0))s"
