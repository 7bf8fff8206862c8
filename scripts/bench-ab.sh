#!/usr/bin/env bash
# Two builds of convo-server compared on one machine, in one run (see README,
# "Performance").
#
# `scripts/bench.sh` run twice, once per build, compares two moments of a
# shared machine as much as two builds. This script starts both servers side
# by side on the same store kind, gives each the same data, and alternates
# short wrk runs between them (A, B, A, B, …), so drift in the machine's
# load falls on both. It prints the median req/s of each build per case and
# the ratio B / A, and the server's CPU time per request (user + system,
# from /proc), which depends less on what else the machine is doing.
#
#   bash scripts/bench-ab.sh OLD_BINARY [NEW_BINARY]   # NEW defaults to this tree's release build
#   AB_ROUNDS=5 AB_SECONDS=3 AB_STORE=memory bash scripts/bench-ab.sh /tmp/convo-server-old
#
# Cases: 1. GET a page of messages, 2. GET projects, 3. POST a message (mock
# model), as in bench.sh. Everything targets 127.0.0.1, is bounded in time
# and count, and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

OLD="${1:?usage: bench-ab.sh OLD_BINARY [NEW_BINARY]}"
ROUNDS="${AB_ROUNDS:-5}"
SECONDS_PER_RUN="${AB_SECONDS:-3}"
STORE_KIND="${AB_STORE:-memory}"
TARGET="${CARGO_TARGET_DIR:-target}"
WORK="$(mktemp -d)"
PIDS=()

log() { printf '==> %s\n' "$*" >&2; }

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

. scripts/lib/bench.sh

bench_tools

log "building (release)"
cargo build --release -p convo-server --bin convo-server --example bench_client 2>&1 | tail -n 2 >&2
NEW="${2:-$TARGET/release/convo-server}"
CLIENT="$TARGET/release/examples/bench_client"

store_env() { # LABEL → CONVO_STORE value
  case "$STORE_KIND" in
    memory) echo memory ;;
    sqlite) echo "sqlite://$WORK/$1.db" ;;
    *) log "AB_STORE is memory or sqlite"; exit 2 ;;
  esac
}

# start LABEL BINARY : a server with its data; sets <LABEL>_BASE, <LABEL>_TOKEN, <LABEL>_HISTORY, <LABEL>_SESSIONS.
start() {
  local label=$1 bin=$2 port
  port=$(free_port)
  env CONVO_LISTEN="127.0.0.1:$port" CONVO_LOG=warn CONVO_STORE="$(store_env "$label")" \
    CONVO_JWT_SECRET="ab-secret-0123456789abcdef0123456789" "$bin" >"$WORK/$label.log" 2>&1 &
  PIDS+=("$!")
  printf -v "${label}_PID" '%s' "$!"
  wait_http "http://127.0.0.1:$port/healthz"
  "$CLIENT" setup "http://127.0.0.1:$port" >"$WORK/$label.json"
  printf -v "${label}_BASE" '%s' "http://127.0.0.1:$port"
  printf -v "${label}_TOKEN" '%s' "$(jq -r .token "$WORK/$label.json")"
  printf -v "${label}_HISTORY" '%s' "$(jq -r .history_session "$WORK/$label.json")"
  printf -v "${label}_SESSIONS" '%s' "$(jq -c .sessions "$WORK/$label.json")"
}

log "A: $OLD"
start A "$OLD"
log "B: $NEW"
start B "$NEW"
for label in A B; do
  token_var="${label}_TOKEN" sessions_var="${label}_SESSIONS"
  bearer_lua "$WORK/$label-get.lua" "${!token_var}"
  sessions_lua "$WORK/$label-post.lua" "${!token_var}" "${!sessions_var}"
done

# cpu_ticks PID : user + system CPU time the process has used, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# rps CASE LABEL : one wrk run of CASE against LABEL's server; prints
# "req/s µs-of-server-CPU-per-request".
rps() {
  local case=$1 label=$2 base_var="${2}_BASE" history_var="${2}_HISTORY" pid_var="${2}_PID" out
  local base="${!base_var}" pid="${!pid_var}" before
  out="$WORK/wrk.txt"
  before=$(cpu_ticks "$pid")
  case "$case" in
    1) wrk -t2 -c64 -d"${SECONDS_PER_RUN}s" -s "$WORK/$label-get.lua" "$base/api/chat/${!history_var}/messages?limit=20" >"$out" ;;
    2) wrk -t2 -c64 -d"${SECONDS_PER_RUN}s" -s "$WORK/$label-get.lua" "$base/api/projects" >"$out" ;;
    3) wrk -t64 -c64 -d"${SECONDS_PER_RUN}s" -s "$WORK/$label-post.lua" "$base" >"$out" ;;
  esac
  if grep -q "Non-2xx" "$out"; then log "non-2xx answers in case $case on $label"; cat "$out" >&2; exit 1; fi
  awk -v ticks="$(( $(cpu_ticks "$pid") - before ))" -v hz="$(getconf CLK_TCK)" '
    /requests in/ {n = $1}
    /^Requests\/sec:/ {r = $2}
    END {printf "%s %.1f\n", r, ticks / hz * 1e6 / n}' "$out"
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

NAMES=("" "1. GET /api/chat/{id}/messages (20 of 50)" "2. GET /api/projects (20)" "3. POST /api/chat/{id}/message (mock)")
echo
echo "A/B of two convo-server builds — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $STORE_KIND store, $ROUNDS alternating rounds of $SECONDS_PER_RUN s, 64 connections"
echo "A = $OLD"
echo "B = $NEW"
echo
printf '| %-42s | %10s | %10s | %7s | %12s | %12s | %7s |\n' case "A req/s" "B req/s" "B / A" "A CPU µs/req" "B CPU µs/req" "B / A"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "--------------------------------------------" "------------" "------------" "---------" "--------------" "--------------" "---------"
for case in 1 2 3; do
  a_rps=() b_rps=() a_cpu=() b_cpu=()
  for round in $(seq "$ROUNDS"); do
    log "case $case, round $round"
    read -r r c <<<"$(rps "$case" A)"; a_rps+=("$r"); a_cpu+=("$c")
    read -r r c <<<"$(rps "$case" B)"; b_rps+=("$r"); b_cpu+=("$c")
  done
  a=$(printf '%s\n' "${a_rps[@]}" | median); b=$(printf '%s\n' "${b_rps[@]}" | median)
  ac=$(printf '%s\n' "${a_cpu[@]}" | median); bc=$(printf '%s\n' "${b_cpu[@]}" | median)
  printf '| %-42s | %10.0f | %10.0f | %6.2f× | %12.1f | %12.1f | %6.2f× |\n' "${NAMES[$case]}" "$a" "$b" \
    "$(awk -v a="$a" -v b="$b" 'BEGIN {print b / a}')" "$ac" "$bc" "$(awk -v a="$ac" -v b="$bc" 'BEGIN {print b / a}')"
  log "req/s runs, A: ${a_rps[*]}; B: ${b_rps[*]}"
done
echo
echo "(medians of $ROUNDS runs each; req/s higher is better, CPU µs per request lower is better)"
