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
# from /proc), which depends less on what else the machine is doing. With
# AB_STORE=mongodb both servers use one MongoDB-wire server (a database
# each; scripts/lib/mongo.sh), and the table adds the database's own work:
# its operations per request (serverStatus opcounters around each run, so
# only the running build's) and its CPU time per request.
#
#   bash scripts/bench-ab.sh OLD_BINARY [NEW_BINARY]   # NEW defaults to this tree's release build
#   AB_ROUNDS=5 AB_SECONDS=3 AB_STORE=memory bash scripts/bench-ab.sh /tmp/convo-server-old
#   AB_STORE=mongodb AB_BURST=500 bash scripts/bench-ab.sh /tmp/convo-server-old
#   AB_STORE_A=memory AB_STORE_B=sqlite bash scripts/bench-ab.sh BIN BIN   # one build, two stores
#   AB_STORE=mongodb AB_URI_OPTS_B='&maxPoolSize=4' bash scripts/bench-ab.sh BIN BIN   # one build, two URIs
#
# Cases: 1. GET a page of messages, 2. GET projects, 3. POST a message (mock
# model), as in bench.sh; 4. AB_BURST plain sends at once, each to its own
# session, with a 2 s mock model (CONVO_MOCK_LATENCY_MS): seconds until the
# last answer (default 500; 0 leaves it out). Everything targets 127.0.0.1,
# is bounded in time and count, and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

OLD="${1:?usage: bench-ab.sh OLD_BINARY [NEW_BINARY]}"
ROUNDS="${AB_ROUNDS:-5}"
SECONDS_PER_RUN="${AB_SECONDS:-3}"
STORE_KIND="${AB_STORE:-memory}"
# Each side's store (AB_STORE_A / AB_STORE_B): one build on two stores
# compares the stores, alternating as for two builds.
STORE_A="${AB_STORE_A:-$STORE_KIND}"
STORE_B="${AB_STORE_B:-$STORE_KIND}"
BURST="${AB_BURST:-500}"
TARGET="${CARGO_TARGET_DIR:-target}"
WORK="$(mktemp -d)"
PIDS=()

log() { printf '==> %s\n' "$*" >&2; }

. scripts/lib/mongo.sh
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  # The database first: `wait` below waits for every child, it included.
  stop_mongo
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

for kind in "$STORE_A" "$STORE_B"; do
  case "$kind" in
    memory | sqlite | mongodb) ;;
    *) log "AB_STORE, AB_STORE_A and AB_STORE_B are memory, sqlite or mongodb"; exit 2 ;;
  esac
done
if [ "$STORE_A" = mongodb ] || [ "$STORE_B" = mongodb ]; then start_mongo; STORE_KIND=mongodb; fi

store_env() { # LABEL → CONVO_STORE value
  local kind="$STORE_B"
  case "$1" in A*) kind="$STORE_A" ;; esac
  case "$kind" in
    memory) echo memory ;;
    sqlite) echo "sqlite://$WORK/$1.db" ;;
    mongodb)
      local extra="${AB_URI_OPTS_B:-}"
      case "$1" in A*) extra="${AB_URI_OPTS_A:-}" ;; esac
      echo "mongodb://127.0.0.1:$MONGO_PORT/convo_ab_$1?directConnection=true$extra" ;;
  esac
}

# The database's operations so far (0 when the store is not MongoDB).
db_ops() {
  if [ "$STORE_KIND" = mongodb ]; then python3 scripts/lib/mongo_ops.py "$MONGO_PORT"; else echo 0; fi
}
# The database's CPU time so far, in clock ticks (0 when not MongoDB).
db_ticks() {
  if [ "$STORE_KIND" = mongodb ]; then cpu_ticks "$MONGO_PID"; else echo 0; fi
}

# start LABEL BINARY [VAR=VALUE…] : a server with its data; sets <LABEL>_BASE, <LABEL>_TOKEN, <LABEL>_HISTORY, <LABEL>_SESSIONS.
start() {
  local label=$1 bin=$2 port
  shift 2
  port=$(free_port)
  env CONVO_LISTEN="127.0.0.1:$port" CONVO_LOG=warn CONVO_STORE="$(store_env "$label")" \
    CONVO_JWT_SECRET="ab-secret-0123456789abcdef0123456789" "$@" "$bin" >"$WORK/$label.log" 2>&1 &
  PIDS+=("$!")
  printf -v "${label}_PID" '%s' "$!"
  wait_http "http://127.0.0.1:$port/healthz"
  "$CLIENT" setup "http://127.0.0.1:$port" >"$WORK/$label.json"
  printf -v "${label}_BASE" '%s' "http://127.0.0.1:$port"
  printf -v "${label}_TOKEN" '%s' "$(jq -r .token "$WORK/$label.json")"
  printf -v "${label}_HISTORY" '%s' "$(jq -r .history_session "$WORK/$label.json")"
  printf -v "${label}_SESSIONS" '%s' "$(jq -c .sessions "$WORK/$label.json")"
  printf -v "${label}_AGENT" '%s' "$(jq -r .agent "$WORK/$label.json")"
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
# "req/s µs-of-server-CPU-per-request database-operations-per-request
# µs-of-database-CPU-per-request".
rps() {
  local case=$1 label=$2 base_var="${2}_BASE" history_var="${2}_HISTORY" pid_var="${2}_PID" out
  local base="${!base_var}" pid="${!pid_var}" before ops_before db_before
  out="$WORK/wrk.txt"
  before=$(cpu_ticks "$pid")
  ops_before=$(db_ops)
  db_before=$(db_ticks)
  case "$case" in
    1) wrk -t2 -c64 -d"${SECONDS_PER_RUN}s" -s "$WORK/$label-get.lua" "$base/api/chat/${!history_var}/messages?limit=20" >"$out" ;;
    2) wrk -t2 -c64 -d"${SECONDS_PER_RUN}s" -s "$WORK/$label-get.lua" "$base/api/projects" >"$out" ;;
    3) wrk -t64 -c64 -d"${SECONDS_PER_RUN}s" -s "$WORK/$label-post.lua" "$base" >"$out" ;;
  esac
  if grep -q "Non-2xx" "$out"; then log "non-2xx answers in case $case on $label"; cat "$out" >&2; exit 1; fi
  # One of the operations counted is db_ops's own serverStatus.
  awk -v ticks="$(( $(cpu_ticks "$pid") - before ))" -v hz="$(getconf CLK_TCK)" \
    -v ops="$(( $(db_ops) - ops_before - 1 ))" -v db="$(( $(db_ticks) - db_before ))" '
    /requests in/ {n = $1}
    /^Requests\/sec:/ {r = $2}
    END {printf "%s %.1f %.2f %.1f\n", r, ticks / hz * 1e6 / n, (ops > 0 ? ops : 0) / n, db / hz * 1e6 / n}' "$out"
}

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

NAMES=("" "1. GET /api/chat/{id}/messages (20 of 50)" "2. GET /api/projects (20)" "3. POST /api/chat/{id}/message (mock)")
echo
echo "A/B of two convo-server builds — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $ROUNDS alternating rounds of $SECONDS_PER_RUN s, 64 connections"
echo "A = $OLD ($STORE_A store)"
echo "B = $NEW ($STORE_B store)"
echo
printf '| %-42s | %10s | %10s | %7s | %12s | %12s | %7s |\n' case "A req/s" "B req/s" "B / A" "A CPU µs/req" "B CPU µs/req" "B / A"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "--------------------------------------------" "------------" "------------" "---------" "--------------" "--------------" "---------"
DB_ROWS="$WORK/db-rows"
: >"$DB_ROWS"
for case in 1 2 3; do
  a_rps=() b_rps=() a_cpu=() b_cpu=() a_ops=() b_ops=() a_db=() b_db=()
  for round in $(seq "$ROUNDS"); do
    log "case $case, round $round"
    read -r r c o d <<<"$(rps "$case" A)"; a_rps+=("$r"); a_cpu+=("$c"); a_ops+=("$o"); a_db+=("$d")
    read -r r c o d <<<"$(rps "$case" B)"; b_rps+=("$r"); b_cpu+=("$c"); b_ops+=("$o"); b_db+=("$d")
  done
  a=$(printf '%s\n' "${a_rps[@]}" | median); b=$(printf '%s\n' "${b_rps[@]}" | median)
  ac=$(printf '%s\n' "${a_cpu[@]}" | median); bc=$(printf '%s\n' "${b_cpu[@]}" | median)
  printf '| %-42s | %10.0f | %10.0f | %6.2f× | %12.1f | %12.1f | %6.2f× |\n' "${NAMES[$case]}" "$a" "$b" \
    "$(awk -v a="$a" -v b="$b" 'BEGIN {print b / a}')" "$ac" "$bc" "$(awk -v a="$ac" -v b="$bc" 'BEGIN {print b / a}')"
  log "req/s runs, A: ${a_rps[*]}; B: ${b_rps[*]}"
  printf '%s|%s|%s|%s|%s\n' "${NAMES[$case]}" \
    "$(printf '%s\n' "${a_ops[@]}" | median)" "$(printf '%s\n' "${b_ops[@]}" | median)" \
    "$(printf '%s\n' "${a_db[@]}" | median)" "$(printf '%s\n' "${b_db[@]}" | median)" >>"$DB_ROWS"
done
echo
echo "(medians of $ROUNDS runs each; req/s higher is better, CPU µs per request lower is better)"
if [ "$STORE_KIND" = mongodb ]; then
  echo
  echo "The database's work per request (MongoDB opcounters; its CPU from /proc):"
  echo
  printf '| %-42s | %9s | %9s | %14s | %14s |\n' case "A db ops" "B db ops" "A db CPU µs" "B db CPU µs"
  printf '|%s|%s|%s|%s|%s|\n' "--------------------------------------------" "-----------" "-----------" "----------------" "----------------"
  while IFS='|' read -r name ao bo ad bd; do
    printf '| %-42s | %9.2f | %9.2f | %14.1f | %14.1f |\n' "$name" "$ao" "$bo" "$ad" "$bd"
  done <"$DB_ROWS"
fi

# Case 4: a burst of plain sends with a slow model, on servers of their own
# (the model's 2 s would slow case 3).
if [ "$BURST" -gt 0 ]; then
  for label in A B; do pid_var="${label}_PID"; kill "${!pid_var}"; done
  log "A4: $OLD"
  start A4 "$OLD" CONVO_MOCK_LATENCY_MS=2000
  log "B4: $NEW"
  start B4 "$NEW" CONVO_MOCK_LATENCY_MS=2000
  a_s=() b_s=()
  for round in $(seq "$ROUNDS"); do
    for label in A4 B4; do
      log "case 4, round $round, $label: $BURST sends at once"
      base_var="${label}_BASE" token_var="${label}_TOKEN" agent_var="${label}_AGENT"
      "$CLIENT" sends "${!base_var}" "${!token_var}" "${!agent_var}" "$BURST" >"$WORK/burst.json"
      if [ "$(jq .failed "$WORK/burst.json")" != 0 ]; then log "failed sends on $label"; cat "$WORK/burst.json" >&2; exit 1; fi
      if [ "$label" = A4 ]; then a_s+=("$(jq .seconds "$WORK/burst.json")"); else b_s+=("$(jq .seconds "$WORK/burst.json")"); fi
    done
  done
  a=$(printf '%s\n' "${a_s[@]}" | median); b=$(printf '%s\n' "${b_s[@]}" | median)
  echo
  printf '4. %s plain sends at once, 2 s model (A: %s store, B: %s store): A %.2f s, B %.2f s (medians of %s; runs A: %s; B: %s)\n' \
    "$BURST" "$STORE_A" "$STORE_B" "$a" "$b" "$ROUNDS" "${a_s[*]}" "${b_s[*]}"
fi
