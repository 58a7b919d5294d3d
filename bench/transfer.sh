#!/usr/bin/env bash
# Transfer benchmark on loopback: Kith node to node, against sendme (iroh) and cp + sync.
#
# Usage: ./bench/transfer.sh [--quick]
#   --quick                 short trial: 64 MiB file and 500 small files
# Environment:
#   BENCH_SIZE_MB=1024      size of the big test file in MiB
#   BENCH_SMALL_FILES=10000 number of small files (4-64 KiB each); 0 skips that part
#   BENCH_DIR=/tmp          where the temporary directory goes (needs ~3x the data free)
#   BENCH_KEEP=1            keep the temporary directory (logs, homes) after the run
#   BENCH_NODE_LOG=info     KITH_LOG level for the two nodes (their stderr goes to files)
#   BENCH_TIMEOUT=1800      seconds after which one transfer is given up
#   BENCH_EMPTY_MEMBER=1    also fetch the big file from a 1-member and from a 2-member album
#                           whose second member (node c) holds nothing; 0 skips it
#   BENCH_SENDME=1          0 skips sendme (no install, its rows say n/a)
#   KITH_BIN=PATH           use this kith binary instead of building one
#   CARGO_TARGET_DIR        where cargo builds (default: the repository's target/)
#
# See bench/README.md for results, bench/results/ for what is measured and the history.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)

quick=0
for arg in "$@"; do
  case $arg in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done
if ((quick)); then
  SIZE_MB=${BENCH_SIZE_MB:-64}
  SMALL_N=${BENCH_SMALL_FILES:-500}
else
  SIZE_MB=${BENCH_SIZE_MB:-1024}
  SMALL_N=${BENCH_SMALL_FILES:-10000}
fi
NODE_LOG=${BENCH_NODE_LOG:-info}
EMPTY_MEMBER=${BENCH_EMPTY_MEMBER:-1}
TIMEOUT=${BENCH_TIMEOUT:-1800}
export KITH_LOG=warn # the CLI commands; the nodes get $NODE_LOG
export KITH_LOCAL_ONLY=1 # `kith serve` refuses any setting that would leave this machine

say() { printf '==> %s\n' "$*" >&2; }
warn() { printf '!!! %s\n' "$*" >&2; }
die() { printf '!!! %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
fmt2() { awk -v x="$1" 'BEGIN { printf "%.2f", x }'; }
fmt3() { if [[ -n ${1:-} ]]; then awk -v x="$1" 'BEGIN { printf "%.3f", x }'; else echo n/a; fi; }
# Reads one field of a JSON document on stdin (jq, else python3).
jfield() {
  if command -v jq >/dev/null; then
    jq -r "$1"
  else
    python3 -c 'import json, re, sys
vs = [json.load(sys.stdin)]
for k in re.findall(r"[^.\[\]]+|\[\d*\]", sys.argv[1]):
    if k == "[]":
        vs = [x for v in vs for x in v]
    elif k.startswith("["):
        vs = [v[int(k[1:-1])] for v in vs]
    else:
        vs = [v.get(k) for v in vs]
for v in vs:
    print("null" if v is None else v)' "$1"
  fi
}

command -v jq >/dev/null || command -v python3 >/dev/null || die "this script needs jq or python3 to read JSON"

# ---------------------------------------------------------------- build
if [[ -n ${KITH_BIN:-} ]]; then
  KITH=$KITH_BIN
  say "using KITH_BIN=$KITH (no build)"
else
  target=${CARGO_TARGET_DIR:-$repo/target}
  say "building kith (release) into $target"
  (cd "$repo" && CARGO_TARGET_DIR=$target cargo build --release --locked) || die "the build failed"
  KITH=$target/release/kith
fi
[[ -x $KITH ]] || die "no kith binary at $KITH"

# ---------------------------------------------------------------- temp dir, cleanup
base=${BENCH_DIR:-/tmp}
mkdir -p "$base"
work=$(mktemp -d "$base/kith-bench.XXXXXX")
logs=$work/logs
mkdir -p "$logs"
declare -A NODE_PID=()
SENDME_PID=

stop_node() { # stop_node NAME
  local name=$1 pid=${NODE_PID[$1]:-}
  [[ -n $pid ]] || return 0
  timeout 20 "$KITH" --home "$work/home-$name" stop >/dev/null 2>>"$logs/cli.log" || true
  local i
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    warn "node $name (pid $pid) did not stop; killing it"
    kill "$pid" 2>/dev/null || true
    sleep 1
    kill -9 "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  NODE_PID[$name]=
}

stop_sendme() {
  local pid=$SENDME_PID
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || true
  local i
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  SENDME_PID=
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_sendme
  for n in "${!NODE_PID[@]}"; do stop_node "$n"; done
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then
    echo "kept $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_node_logs() { # the tail and the warnings/errors of both nodes' stderr
  local f
  for f in "$logs"/node-*.log "$logs"/cli.log; do
    [[ -s $f ]] || continue
    echo "----- $f: WARN/ERROR lines (last 30) -----" >&2
    grep -E 'WARN|ERROR|panicked' "$f" | tail -n 30 >&2 || true
    echo "----- $f: last 20 lines -----" >&2
    tail -n 20 "$f" >&2
  done
}

# ---------------------------------------------------------------- free space
size_bytes=$((SIZE_MB * 1024 * 1024))
small_est=$((SMALL_N * 36 * 1024 * 12 / 10)) # 4-64 KiB, plus block overhead
# the source and, at worst, two copies at once (sendme's receive store and its export)
need=$((3 * size_bytes + 3 * small_est + 256 * 1024 * 1024))
avail=$(df -P -B1 "$work" | awk 'NR == 2 { print $4 }')
if ((avail < need)); then
  die "not enough free space in $base: $((avail / 1048576)) MiB free, about $((need / 1048576)) MiB needed (set BENCH_DIR or BENCH_SIZE_MB)"
fi

can_drop=no
drop_caches() {
  sync
  if { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then can_drop=yes; else can_drop=no; fi
}
drop_caches

cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
shani=$(grep -q -w sha_ni /proc/cpuinfo && echo yes || echo no)
rev=$(cd "$repo" && git describe --always --dirty 2>/dev/null || echo unknown)
say "temp dir $work ($((avail / 1073741824)) GiB free)"
say "CPU: $cpu x $(nproc), SHA-NI: $shani, page cache drop: $can_drop, kith at $rev"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- test data
mkdir -p "$work/data"
big=$work/data/big.bin
say "writing $SIZE_MB MiB of random data"
head -c "$size_bytes" /dev/urandom >"$big"
small=$work/data/small
if ((SMALL_N > 0)); then
  say "writing $SMALL_N small files of 4-64 KiB"
  mkdir -p "$small"
  if command -v python3 >/dev/null; then
    python3 - "$small" "$SMALL_N" <<'EOF'
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "f%05d.bin" % i), "wb") as f:
        f.write(os.urandom(random.randint(4096, 65536)))
EOF
  else
    for ((i = 0; i < SMALL_N; i++)); do
      head -c $((4096 + (RANDOM * 32768 + RANDOM) % 61441)) /dev/urandom >"$(printf '%s/f%05d.bin' "$small" "$i")"
    done
  fi
  small_bytes=$(find "$small" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
fi
sync

# Results: R_SECS[key], R_BYTES[key], R_NOTE[key]; keys like big/kith, small/cp.
declare -A R_SECS=() R_BYTES=() R_NOTE=()
FAILURES=()
fail() { # fail KEY MESSAGE: marks a run as failed without stopping the others
  R_NOTE[$1]="FAILED"
  FAILURES+=("$1: $2")
  warn "$1: $2"
}

same_tree() { # same_tree SRC DST: byte for byte, file or folder
  if [[ -d $1 ]]; then diff -r -q "$1" "$2" >/dev/null; else cmp -s "$1" "$2"; fi
}

# ---------------------------------------------------------------- kith
KITH_OK=1
start_node() { # start_node NAME
  local name=$1 home=$work/home-$1
  KITH_LOG=$NODE_LOG "$KITH" --home "$home" serve --listen 127.0.0.1:0 >"$logs/node-$name.out" 2>"$logs/node-$name.log" &
  NODE_PID[$name]=$!
  local i
  for i in $(seq 300); do
    if "$KITH" --home "$home" status --json >"$logs/status-$name.json" 2>>"$logs/cli.log"; then
      local pid
      pid=$(jfield .pid <"$logs/status-$name.json")
      [[ $pid == "${NODE_PID[$name]}" ]] || warn "node $name: status says pid $pid, started ${NODE_PID[$name]}"
      say "node $name up on $(jfield .listen_addr <"$logs/status-$name.json") (pid ${NODE_PID[$name]})"
      return 0
    fi
    kill -0 "${NODE_PID[$name]}" 2>/dev/null || break
    sleep 0.1
  done
  warn "node $name did not come up"
  show_node_logs
  return 1
}

vmhwm_mib() { # peak RSS of a process in MiB
  awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null || echo "?"
}

kith_setup() {
  local h
  for h in a b; do
    "$KITH" --home "$work/home-$h" init --name "bench-$h" >/dev/null 2>>"$logs/cli.log"
  done
  start_node a && start_node b || return 1
  local link
  link=$("$KITH" --home "$work/home-a" invite 2>>"$logs/cli.log" | tail -n 1)
  "$KITH" --home "$work/home-b" accept "$link" >/dev/null 2>>"$logs/cli.log" || {
    warn "kith accept failed"
    show_node_logs
    return 1
  }
  say "kith: nodes a and b are friends"
}

add() { awk -v a="${1:-0}" -v b="$2" 'BEGIN { printf "%.6f", a + b }'; }

# kith_one KIND DST PATH...: shares PATHs from a as one album, fetches it on b into DST and
# adds the times and bytes to the KIND/kith results. Sets KITH_SHARE_OUT to share's answer.
KITH_SHARE_OUT=
kith_one() {
  local kind=$1 dst=$2 key=$1/kith
  shift 2
  local t0 t1 out id
  drop_caches
  t0=$(now)
  if ! out=$(timeout "$TIMEOUT" "$KITH" --home "$work/home-a" share "$@" --json 2>>"$logs/cli.log"); then
    KITH_SHARE_OUT=$out
    return 2
  fi
  t1=$(now)
  id=$(jfield .id <<<"$out")
  R_NOTE[$kind/kith-share]=$(add "${R_NOTE[$kind/kith-share]:-0}" "$(elapsed "$t0" "$t1")")
  say "kith: shared $# path(s) as album $id, $(jfield .items <<<"$out") files, in $(elapsed "$t0" "$t1") s (hashing)"
  local i ids seen=0 h
  for i in $(seq 600); do
    seen=1
    for h in ${KITH_MEMBERS:-b}; do # every member named must list the album
      ids=$("$KITH" --home "$work/home-$h" albums --json 2>>"$logs/cli.log" | jfield '.[].id' 2>/dev/null || true)
      grep -qx "$id" <<<"$ids" || seen=0
    done
    ((seen)) && break
    sleep 0.1
  done
  if ((!seen)); then
    fail "$key" "node(s) ${KITH_MEMBERS:-b} never saw album $id (waited 60 s)"
    R_NOTE[$key-wall]=FAILED
    show_node_logs
    return 1
  fi
  say "kith: b sees the album after $(elapsed "$t1" "$(now)") s; fetching"
  drop_caches
  mkdir -p "$dst"
  t0=$(now)
  if ! out=$(timeout "$TIMEOUT" "$KITH" --home "$work/home-b" fetch "$id" --out "$dst" --json --timeout 120 2>>"$logs/cli.log"); then
    t1=$(now)
    fail "$key" "kith fetch failed after $(elapsed "$t0" "$t1") s: ${out:-no output (timed out?)}"
    R_NOTE[$key-wall]=FAILED
    show_node_logs
    return 1
  fi
  t1=$(now)
  echo "$out" >>"$logs/fetch-$kind.json"
  # to set against the nodes' log times (UTC)
  printf '%s fetch %s: command from %s to %s\n' "$kind" "$id" "$(date -u -d "@$t0" +%T.%N)" \
    "$(date -u -d "@$t1" +%T.%N)" >>"$logs/fetch-times.txt"
  local secs bytes recv
  secs=$(jfield .secs <<<"$out")
  bytes=$(jfield .bytes <<<"$out")
  recv=$(jfield .received_bytes <<<"$out")
  R_SECS[$key]=$(add "${R_SECS[$key]:-0}" "$secs")
  R_BYTES[$key]=$((${R_BYTES[$key]:-0} + bytes))
  R_SECS[$key-wall]=$(add "${R_SECS[$key-wall]:-0}" "$(elapsed "$t0" "$t1")")
  R_BYTES[$key-wall]=${R_BYTES[$key]}
  say "kith: fetched $bytes bytes (received $recv) in $secs s (node), $(elapsed "$t0" "$t1") s (command)"
  [[ $recv == "$bytes" ]] || warn "kith: received_bytes $recv differs from bytes $bytes"
}

kith_run() { # kith_run KIND SRC: share SRC from a, fetch it on b, check the copy
  local kind=$1 src=$2 key=$1/kith dst=$work/kith-out-$1 got rc=0
  kith_one "$kind" "$dst" "$src" || rc=$?
  got=$dst/$(basename "$src")
  if ((rc == 2)); then
    local max
    max=$(grep -o 'at most [0-9]* files' <<<"$KITH_SHARE_OUT" | awk '{ print $3 }' || true)
    if [[ -d $src && -n $max ]]; then
      # Kith caps an album at MAX_ITEMS files (PROTOCOL.md §12): share the folder's files as
      # several albums of at most that many, fetched one after another, times added up.
      local files=() nalb=0 i
      mapfile -t files < <(find "$src" -maxdepth 1 -type f | sort)
      KITH_MAX_ITEMS=$max
      say "kith: the folder was refused (\"$(jfield .error.message <<<"$KITH_SHARE_OUT")\");" \
        "sharing its ${#files[@]} files as albums of at most $max instead, fetched one after another"
      for ((i = 0; i < ${#files[@]}; i += max)); do
        nalb=$((nalb + 1))
        kith_one "$kind" "$dst" "${files[@]:i:max}" || {
          [[ ${R_NOTE[$key]:-} == FAILED ]] || fail "$key" "kith share failed: $KITH_SHARE_OUT"
          return 1
        }
      done
      R_NOTE[$kind/kith-albums]=$nalb
      got=$dst # the files of a shared file list land directly in the out folder
    else
      fail "$key" "kith share failed: $KITH_SHARE_OUT"
      R_NOTE[$key-wall]=FAILED
      show_node_logs
      return 1
    fi
  elif ((rc != 0)); then
    return 1
  fi
  if same_tree "$src" "$got"; then
    say "kith: the copy is identical"
  else
    fail "$key" "THE COPY DIFFERS from the source ($got)"
    R_NOTE[$key-wall]=FAILED
    return 1
  fi
  rm -rf "$dst"
}

# A member with nothing to give must cost nothing. Node c becomes a's and b's friend (so b is
# connected to c before any fetch); a shares the big file twice, to b alone and to b and c, and
# b fetches each. c is online and in the second album's audience but holds nothing, so b's
# fetch meets it as a source with nothing to give.
kith_empty_member() {
  local bid cid link dst kind from i
  "$KITH" --home "$work/home-c" init --name bench-c >/dev/null 2>>"$logs/cli.log"
  start_node c || return 1
  for from in a b; do
    link=$("$KITH" --home "$work/home-$from" invite 2>>"$logs/cli.log" | tail -n 1)
    "$KITH" --home "$work/home-c" accept "$link" >/dev/null 2>>"$logs/cli.log" || {
      warn "kith accept ($from -> c) failed"
      return 1
    }
  done
  for i in $(seq 300); do # b online with both a and c
    [[ $("$KITH" --home "$work/home-b" status --json 2>>"$logs/cli.log" | jfield .online) == 2 ]] && break
    sleep 0.1
  done
  bid=$(jfield .peer_id <"$logs/status-b.json")
  cid=$(jfield .peer_id <"$logs/status-c.json")
  say "kith: node c is a's and b's friend; fetching the big file from a 1-member and a 2-member album"
  for kind in alone empty; do
    dst=$work/kith-out-$kind
    if [[ $kind == alone ]]; then
      KITH_MEMBERS="b" kith_one "$kind" "$dst" "$big" --to "$bid" || continue
    else
      KITH_MEMBERS="b c" kith_one "$kind" "$dst" "$big" --to "$bid" --to "$cid" || continue
    fi
    if same_tree "$big" "$dst/$(basename "$big")"; then
      say "kith: the copy is identical"
    else
      fail "$kind/kith" "THE COPY DIFFERS from the source ($dst)"
    fi
    rm -rf "$dst"
  done
}

# ---------------------------------------------------------------- sendme
SENDME=
SENDME_WHY=
sendme_find() {
  if [[ ${BENCH_SENDME:-1} == 0 ]]; then
    SENDME_WHY="skipped (BENCH_SENDME=0)"
    return 1
  fi
  if command -v sendme >/dev/null; then
    SENDME=$(command -v sendme)
  elif [[ -x $HOME/.cargo/bin/sendme ]]; then
    SENDME=$HOME/.cargo/bin/sendme
  else
    say "sendme is not installed: installing it with 'cargo install --locked sendme' (this takes several minutes)"
    if cargo install --locked sendme >"$logs/sendme-install.log" 2>&1; then
      SENDME=$HOME/.cargo/bin/sendme
    else
      SENDME_WHY="'cargo install --locked sendme' failed (no internet?); see the end of its log:
$(tail -n 5 "$logs/sendme-install.log")"
      return 1
    fi
  fi
  say "sendme: $("$SENDME" --version 2>/dev/null || echo '?') at $SENDME"
}

# Offline on loopback: no relay, a ticket with only direct addresses, and sockets bound to
# 127.0.0.1 so that the ticket holds 127.0.0.1 and nothing else.
SENDME_NET=(--relay disabled --magic-ipv4-addr 127.0.0.1:0 --no-progress)

ticket_has_loopback() { # the ticket is "blob" + base32 of postcard; look for 127.0.0.1 in it
  command -v python3 >/dev/null || return 0
  python3 - "$1" <<'EOF'
import base64, sys
t = sys.argv[1][4:].upper()
b = base64.b32decode(t + "=" * (-len(t) % 8))
sys.exit(0 if bytes([127, 0, 0, 1]) in b else 1)
EOF
}

sendme_run() { # sendme_run KIND SRC
  local kind=$1 src=$2 key=$1/sendme
  [[ -n $SENDME ]] || { R_NOTE[$key]="n/a"; return 1; }
  local sdir=$work/sendme-send-$kind rdir=$work/sendme-recv-$kind
  mkdir -p "$sdir" "$rdir"
  local t0 t1 ticket=
  drop_caches
  t0=$(now)
  # sendme send keeps its store (.sendme-send-*) in the current directory
  (cd "$sdir" && exec "$SENDME" send --ticket-type addresses "${SENDME_NET[@]}" "$src") \
    >"$logs/sendme-send-$kind.out" 2>"$logs/sendme-send-$kind.err" </dev/null &
  SENDME_PID=$!
  local i
  for i in $(seq $((TIMEOUT * 10))); do
    ticket=$(grep -o 'sendme receive [^ ]*' "$logs/sendme-send-$kind.out" 2>/dev/null | awk '{ print $3 }' | head -n 1 || true)
    [[ -n $ticket ]] && break
    kill -0 "$SENDME_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $ticket ]]; then
    fail "$key" "sendme send printed no ticket; its output:
$(tail -n 10 "$logs/sendme-send-$kind.out" "$logs/sendme-send-$kind.err")"
    stop_sendme
    return 1
  fi
  t1=$(now)
  R_NOTE[$kind/sendme-send]=$(elapsed "$t0" "$t1")
  say "sendme: send ready after ${R_NOTE[$kind/sendme-send]} s (import and hashing)"
  if ! ticket_has_loopback "$ticket"; then
    warn "sendme: the ticket holds no 127.0.0.1 address; trying anyway"
  fi
  drop_caches
  local timecmd=()
  /usr/bin/time -f %M true >/dev/null 2>&1 && timecmd=(/usr/bin/time -f %M -o "$logs/sendme-recv-$kind.rss")
  t0=$(now)
  if ! (cd "$rdir" && timeout "$TIMEOUT" "${timecmd[@]}" "$SENDME" receive "${SENDME_NET[@]}" "$ticket") \
    >"$logs/sendme-recv-$kind.out" 2>"$logs/sendme-recv-$kind.err" </dev/null; then
    t1=$(now)
    fail "$key" "sendme receive failed after $(elapsed "$t0" "$t1") s; its output:
$(tail -n 10 "$logs/sendme-recv-$kind.out" "$logs/sendme-recv-$kind.err")"
    stop_sendme
    return 1
  fi
  sync
  t1=$(now)
  R_NOTE[$kind/sendme-send-rss]=$(vmhwm_mib "$SENDME_PID")
  [[ -s $logs/sendme-recv-$kind.rss ]] &&
    R_NOTE[$kind/sendme-recv-rss]=$(awk '{ printf "%.1f", $1 / 1024 }' "$logs/sendme-recv-$kind.rss")
  stop_sendme
  R_SECS[$key]=$(elapsed "$t0" "$t1")
  local got
  got=$rdir/$(basename "$src")
  if [[ -d $src ]]; then
    R_BYTES[$key]=$small_bytes
  else
    R_BYTES[$key]=$(stat -c %s "$got" 2>/dev/null || echo 0)
  fi
  say "sendme: received in ${R_SECS[$key]} s (with sync)"
  if same_tree "$src" "$got"; then
    say "sendme: the copy is identical"
  else
    fail "$key" "THE COPY DIFFERS from the source ($got)"
    return 1
  fi
  rm -rf "$sdir" "$rdir"
}

# ---------------------------------------------------------------- cp
cp_run() { # cp_run KIND SRC
  local kind=$1 src=$2 key=$1/cp dst=$work/cp-out-$1
  drop_caches
  local t0 t1
  t0=$(now)
  cp -r "$src" "$dst"
  sync
  t1=$(now)
  R_SECS[$key]=$(elapsed "$t0" "$t1")
  if [[ -d $src ]]; then R_BYTES[$key]=$small_bytes; else R_BYTES[$key]=$size_bytes; fi
  say "cp: copied in ${R_SECS[$key]} s (with sync)"
  same_tree "$src" "$dst" || { fail "$key" "THE COPY DIFFERS from the source"; return 1; }
  rm -rf "$dst"
}

# ---------------------------------------------------------------- runs
say "--- big file: $SIZE_MB MiB ---"
kith_setup || { KITH_OK=0; fail big/kith "the kith nodes could not be set up"; }
if ((KITH_OK)); then
  kith_run big "$big" || true
  RSS_A_BIG=$(vmhwm_mib "${NODE_PID[a]}")
  RSS_B_BIG=$(vmhwm_mib "${NODE_PID[b]}")
  if ((EMPTY_MEMBER)); then kith_empty_member || fail empty/kith "the empty-member run could not be set up"; fi
fi
sendme_find || { R_NOTE[big/sendme]="n/a"; warn "sendme: $SENDME_WHY"; }
sendme_run big "$big" || true
cp_run big "$big" || true

if ((SMALL_N > 0)); then
  say "--- small files: $SMALL_N files, $small_bytes bytes ---"
  if ((KITH_OK)); then kith_run small "$small" || true; fi
  sendme_run small "$small" || true
  cp_run small "$small" || true
fi

RSS_A_END="?"
RSS_B_END="?"
if ((KITH_OK)); then
  RSS_A_END=$(vmhwm_mib "${NODE_PID[a]}")
  RSS_B_END=$(vmhwm_mib "${NODE_PID[b]}")
  kill -0 "${NODE_PID[a]}" 2>/dev/null || warn "node a is gone (crashed?)"
  kill -0 "${NODE_PID[b]}" 2>/dev/null || warn "node b is gone (crashed?)"
  stop_node a
  stop_node b
  stop_node c
fi

# ---------------------------------------------------------------- report
mbps() { # bytes secs
  awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", b / 1e6 / s; else print "?" }'
}
ratio() { # speed ratio: mbps(key) / mbps(ref)
  local k=$1 r=$2
  if [[ -n ${R_SECS[$k]:-} && -n ${R_SECS[$r]:-} && ${R_NOTE[$k]:-} != FAILED && ${R_NOTE[$r]:-} != FAILED ]]; then
    awk -v b1="${R_BYTES[$k]}" -v s1="${R_SECS[$k]}" -v b2="${R_BYTES[$r]}" -v s2="${R_SECS[$r]}" \
      'BEGIN { if (s1 > 0 && s2 > 0 && b2 > 0) printf "%.2f", (b1 / s1) / (b2 / s2); else print "?" }'
  else
    echo "n/a"
  fi
}
row() { # row KIND KEY LABEL
  local kind=$1 key=$1/$2 label=$3 nfiles=${4:-}
  if [[ -z ${R_SECS[$key]:-} || ${R_NOTE[$key]:-} == FAILED ]]; then
    printf '%-38s %10s\n' "$label" "${R_NOTE[$key]:-n/a}"
    return
  fi
  local extra=""
  if [[ -n $nfiles ]]; then
    extra=$(awk -v n="$nfiles" -v s="${R_SECS[$key]}" 'BEGIN { printf "%10.0f", n / s }')
  fi
  printf '%-38s %10s %10s %s%12s %12s\n' "$label" "$(fmt2 "${R_SECS[$key]}")" \
    "$(mbps "${R_BYTES[$key]}" "${R_SECS[$key]}")" "${extra:+$extra }" \
    "$(ratio "$key" "$kind/sendme")" "$(ratio "$key" "$kind/cp")"
}

echo
echo "Kith transfer benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), kith $rev"
echo "CPU: $cpu, $(nproc) cores, SHA-NI: $shani; page cache dropped before each run: $can_drop"
echo "Load average (1/5/15 min) at the start: $load_start, at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "MB = 10^6 bytes; 'x sendme' and 'x cp+sync' are speed ratios (MB/s over theirs; >1 is faster)"
echo
echo "Big file: $SIZE_MB MiB ($size_bytes bytes), loopback"
printf '%-38s %10s %10s %12s %12s\n' tool seconds MB/s "x sendme" "x cp+sync"
row big kith "kith fetch (node secs)"
row big kith-wall "kith fetch (command wall)"
row big sendme "sendme receive + sync"
row big cp "cp + sync"
echo
echo "Preparation, not in the table: kith share (hashing) $(fmt3 "${R_NOTE[big/kith-share]:-}") s," \
  "sendme send (import) ${R_NOTE[big/sendme-send]:-n/a} s"
echo "Peak RSS (VmHWM) of the kith nodes: after the big file: a (sender) ${RSS_A_BIG:-?} MiB," \
  "b (receiver) ${RSS_B_BIG:-?} MiB; at the end: a $RSS_A_END MiB, b $RSS_B_END MiB"
echo "Peak RSS of sendme: send ${R_NOTE[big/sendme-send-rss]:-?} MiB, receive ${R_NOTE[big/sendme-recv-rss]:-?} MiB"
if ((EMPTY_MEMBER && KITH_OK)); then
  echo
  echo "A member with nothing to give: b fetches the big file from a; in the 2-member album the"
  echo "second member, c, is online and holds nothing (same run, page cache dropped before each)"
  printf '%-38s %10s %10s %12s\n' album seconds MB/s "x 1-member"
  for k in alone empty; do
    label="1-member album (node secs)"
    [[ $k == empty ]] && label="2-member album, c empty (node secs)"
    if [[ -z ${R_SECS[$k/kith]:-} || ${R_NOTE[$k/kith]:-} == FAILED ]]; then
      printf '%-38s %10s\n' "$label" "${R_NOTE[$k/kith]:-n/a}"
    else
      printf '%-38s %10s %10s %12s\n' "$label" "$(fmt2 "${R_SECS[$k/kith]}")" \
        "$(mbps "${R_BYTES[$k/kith]}" "${R_SECS[$k/kith]}")" "$(ratio "$k/kith" alone/kith)"
    fi
  done
fi
if ((SMALL_N > 0)); then
  echo
  echo "Small files: $SMALL_N files of 4-64 KiB in one folder ($small_bytes bytes)"
  printf '%-38s %10s %10s %10s %12s %12s\n' tool seconds MB/s files/s "x sendme" "x cp+sync"
  albums=${R_NOTE[small/kith-albums]:-}
  row small kith "kith fetch (node secs)${albums:+ [$albums albums]}" "$SMALL_N"
  row small kith-wall "kith fetch (command wall)${albums:+ [$albums albums]}" "$SMALL_N"
  row small sendme "sendme receive + sync" "$SMALL_N"
  row small cp "cp -r + sync" "$SMALL_N"
  echo
  echo "Preparation, not in the table: kith share (hashing) $(fmt3 "${R_NOTE[small/kith-share]:-}") s," \
    "sendme send (import) ${R_NOTE[small/sendme-send]:-n/a} s"
  echo "Peak RSS of sendme: send ${R_NOTE[small/sendme-send-rss]:-?} MiB, receive ${R_NOTE[small/sendme-recv-rss]:-?} MiB"
  if [[ -n $albums ]]; then
    echo "Kith refused the folder as one album (at most ${KITH_MAX_ITEMS:-?} files per album, see PROTOCOL.md §12);"
    echo "its files were shared as $albums albums and fetched one after another: the kith times are the sums."
  fi
fi
if [[ -n $SENDME_WHY ]]; then
  echo
  echo "sendme was not run: $SENDME_WHY"
fi
if ((${#FAILURES[@]})); then
  echo
  echo "FAILURES:"
  printf '  %s\n' "${FAILURES[@]}"
  echo "(node logs: $logs; rerun with BENCH_KEEP=1 to keep them)"
  exit 1
fi
