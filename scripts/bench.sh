#!/usr/bin/env bash
# Load benchmark of convo-server (see README, "Performance").
#
# Builds in release mode, starts what it needs (the server on the memory
# store, on a fresh SQLite file in its temp directory and on MongoDB, the mock model with no delay, the workspace's fake
# model server convo-fake for the real-HTTP case), loads it from this
# machine with wrk for a fixed time per case, and prints one table.
# Throughput is also given as a ratio to a minimal poem endpoint measured in
# the same run (the framework ceiling on this machine): only ratios from one
# run compare on shared machines.
#
#   bash scripts/bench.sh                 # all cases, 10 s each
#   BENCH_SECONDS=5 bash scripts/bench.sh
#   BENCH_STORES="memory sqlite" bash scripts/bench.sh
#   BENCH_BURST=0 bash scripts/bench.sh   # without case 10 (default: 500 sends at once)
#   BENCH_BIN=/tmp/convo-server-old bash scripts/bench.sh   # another build of
#                                         # the server (e.g. before a change), same client and cases
#   CARGO_TARGET_DIR=/tmp/t bash scripts/bench.sh          # build there instead of target/
#
# Everything targets 127.0.0.1, is bounded in time and count, and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_CASE="${BENCH_SECONDS:-10}"
STORES="${BENCH_STORES:-memory sqlite mongodb}"
STREAMS="${BENCH_STREAMS:-5000}"
BURST="${BENCH_BURST:-500}"
WORK="$(mktemp -d)"
PIDS=()

log() { printf '==> %s\n' "$*" >&2; }

. scripts/lib/mongo.sh
. scripts/lib/bench.sh
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  # The database first: `wait` below waits for every child, it included.
  stop_mongo
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

bench_tools

log "building (release)"
cargo build --release -p convo-server --bin convo-server --example ceiling --example bench_client 2>&1 | tail -n 2 >&2
cargo build --release -p convo-fake --bin convo-fake 2>&1 | tail -n 2 >&2
# Cargo's output directory: CARGO_TARGET_DIR when set, as cargo itself does.
RELEASE="${CARGO_TARGET_DIR:-target}/release"
BIN="${BENCH_BIN:-$RELEASE/convo-server}"
log "server under test: $BIN"
CEILING=$RELEASE/examples/ceiling
CLIENT=$RELEASE/examples/bench_client
FAKE=$RELEASE/convo-fake

# start_server PORT VAR=VALUE… : a convo-server in the background; sets SERVER_PID.
start_server() {
  local port=$1; shift
  env CONVO_LISTEN="127.0.0.1:$port" CONVO_LOG=warn "$@" "$BIN" >"$WORK/server-$port.log" 2>&1 &
  SERVER_PID=$!
  SERVER_URL="http://127.0.0.1:$port"
  PIDS+=("$SERVER_PID")
  wait_http "$SERVER_URL/healthz"
}

rss_kib() { awk -v f="$2" '$1 == f":" {print $2}' "/proc/$1/status"; }
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }

# to_ms "1.23ms" → 1.23
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /s$/) n *= 1000
    printf "%.2f", n }'
}

ROWS="$WORK/rows"
: >"$ROWS"
OPS="$WORK/ops"
: >"$OPS"
CEILING_RPS=""

# Store operations per request, from the server's own counters: every store
# call is one sample of convo_store_operation_duration_seconds{op} (the
# InstrumentedStore wraps every store), every answered request one of
# convo_http_requests_total. Counting the server's answered requests rather
# than wrk's completed ones keeps requests cut off at the end of a run out
# of neither side. /metrics and /healthz are not the case's requests.
scrape() { curl -sf "$1/metrics" >"$2"; }

# store_ops CASE STORE BEFORE AFTER : appends "case|store|per request|per op".
store_ops() {
  awk -v name="$1" -v store="$2" '
    FNR == 1 { file++ }
    /^convo_store_operation_duration_seconds_count\{/ {
      match($0, /op="[^"]*"/); op = substr($0, RSTART + 4, RLENGTH - 5)
      ops[op] += (file == 1 ? -1 : 1) * $NF
    }
    /^convo_http_requests_total\{/ && !/route="\/(metrics|healthz)"/ {
      requests += (file == 1 ? -1 : 1) * $NF
    }
    END {
      if (requests <= 0) exit
      for (op in ops) if (ops[op] > 0) {
        total += ops[op]
        each = each sprintf("%s%s %.2f", each == "" ? "" : ", ", op, ops[op] / requests)
      }
      printf "%s|%s|%.2f|%s (%d requests)\n", name, store, total / requests, each, requests
    }' "$3" "$4" >>"$OPS"
}

# run_wrk CASE STORE PID THREADS CONNS URL [LUA] : one fixed-time load; appends a row
# (and, against a convo-server, its store operations per request).
run_wrk() {
  local name=$1 store=$2 pid=$3 threads=$4 conns=$5 url=$6 script=${7:-}
  local out="$WORK/wrk-$RANDOM.txt"
  [ -n "$pid" ] && reset_peak "$pid"
  [ "$store" != - ] && scrape "$SERVER_URL" "$WORK/metrics-before"
  wrk -t"$threads" -c"$conns" -d"${SECONDS_PER_CASE}s" --latency --timeout 10s ${script:+-s "$script"} "$url" >"$out"
  if [ "$store" != - ]; then
    scrape "$SERVER_URL" "$WORK/metrics-after"
    store_ops "$name" "$store" "$WORK/metrics-before" "$WORK/metrics-after"
  fi
  record "$name" "$store" "$pid" "$out"
}

record() {
  local name=$1 store=$2 pid=$3 out=$4
  local rps p50 p99 non2xx sock peak
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$out")
  sock=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$out")
  peak=""
  [ -n "$pid" ] && peak=$(awk -v k="$(rss_kib "$pid" VmHWM)" 'BEGIN {printf "%.1f", k / 1024}')
  echo "$name|$store|$rps|$p50|$p99|$(( ${non2xx:-0} + ${sock:-0} ))|$peak" >>"$ROWS"
}

# ---- the framework ceiling ----
port=$(free_port)
"$CEILING" "127.0.0.1:$port" >/dev/null 2>&1 &
CEILING_PID=$!
PIDS+=("$CEILING_PID")
wait_http "http://127.0.0.1:$port/"
log "ceiling: fixed 200-byte JSON from a bare poem endpoint"
run_wrk "ceiling: GET / (200 B JSON)" "-" "$CEILING_PID" 2 64 "http://127.0.0.1:$port/"
kill "$CEILING_PID"

# ---- the fake Gemini (convo-fake, release build) for case 4 ----
GEMINI_PORT=$(free_port)
"$FAKE" --port "$GEMINI_PORT" >/dev/null 2>&1 &
PIDS+=("$!")
wait_http "http://127.0.0.1:$GEMINI_PORT/__health"

SECRET="bench-secret-$(date +%s)-0123456789abcdef"
GROWTH="$WORK/growth"
: >"$GROWTH"
for store in $STORES; do
  if [ "$store" = mongodb ]; then
    [ -n "${MONGO_PORT:-}" ] || start_mongo
    STORE_ENV=(CONVO_STORE="mongodb://127.0.0.1:$MONGO_PORT/convo_bench_$RANDOM?directConnection=true")
  elif [ "$store" = sqlite ]; then
    # A fresh file (and its signing-secret file) in the run's temp directory.
    STORE_ENV=(CONVO_STORE="sqlite://$WORK/bench-$RANDOM.db")
  else
    STORE_ENV=(CONVO_STORE=memory)
  fi

  # Case 8 first: idle RSS of a fresh server.
  port=$(free_port)
  start_server "$port" "${STORE_ENV[@]}" CONVO_JWT_SECRET="$SECRET"
  pid=$SERVER_PID
  sleep 1
  echo "8. idle RSS after start|$store||||0|$(awk -v k="$(rss_kib "$pid" VmRSS)" 'BEGIN {printf "%.1f", k / 1024}')" >>"$ROWS"
  base="http://127.0.0.1:$port"

  log "[$store] setting up data"
  "$CLIENT" setup "$base" >"$WORK/setup.json"
  token=$(jq -r .token "$WORK/setup.json")
  history=$(jq -r .history_session "$WORK/setup.json")

  bearer_lua "$WORK/get.lua" "$token"
  log "[$store] case 1: GET messages"
  run_wrk "1. GET /api/chat/{id}/messages (20 of 50)" "$store" "$pid" 2 64 "$base/api/chat/$history/messages?limit=20" "$WORK/get.lua"
  log "[$store] case 2: GET projects"
  run_wrk "2. GET /api/projects (20)" "$store" "$pid" 2 64 "$base/api/projects" "$WORK/get.lua"
  # Case 11: case 1 through a project API key with a per-minute limit (high
  # enough never to refuse): what a key and its shared counter cost.
  project=$(curl -sf -H "Authorization: Bearer $token" "$base/api/chat/$history" | jq -r .project_id)
  key=$(curl -sf -H "Authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"name":"bench","scope":"admin","rate_limit_per_minute":1000000}' \
    "$base/api/projects/$project/keys" | jq -r .key)
  bearer_lua "$WORK/key.lua" "$key"
  log "[$store] case 11: case 1 with a rate-limited project API key"
  run_wrk "11. case 1 with a project API key (rpm limit)" "$store" "$pid" 2 64 "$base/api/chat/$history/messages?limit=20" "$WORK/key.lua"
  log "[$store] case 3: POST message, mock model"
  sessions_lua "$WORK/post.lua" "$token" "$(jq -c .sessions "$WORK/setup.json")"
  run_wrk "3. POST /api/chat/{id}/message (mock)" "$store" "$pid" 64 64 "$base" "$WORK/post.lua"

  log "[$store] case 5: logins, with case 2 at 8 connections beside"
  bearer_lua "$WORK/login.lua" "-" POST "$(jq -c '{email, password}' "$WORK/setup.json")"
  reset_peak "$pid"
  wrk -t1 -c64 -d"${SECONDS_PER_CASE}s" --latency --timeout 10s -s "$WORK/login.lua" "$base/api/auth/login" >"$WORK/login.txt" &
  LOGIN_WRK=$!
  wrk -t1 -c8 -d"${SECONDS_PER_CASE}s" --latency --timeout 10s -s "$WORK/get.lua" "$base/api/projects" >"$WORK/beside.txt"
  wait "$LOGIN_WRK"
  record "5a. POST /api/auth/login (argon2)" "$store" "$pid" "$WORK/login.txt"
  record "5b. case 2 at 8 conns during 5a" "$store" "$pid" "$WORK/beside.txt"

  log "[$store] case 6: one send at 10 / 1,000 / 10,000 prior messages"
  "$CLIENT" growth "$base" "$token" | jq -c --arg s "$store" '. + {store: $s}' >>"$GROWTH"
  kill "$pid"

  # Case 4: the same turn through the fake Gemini (a real HTTP round trip to the model).
  port=$(free_port)
  start_server "$port" "${STORE_ENV[@]}" CONVO_JWT_SECRET="$SECRET" GEMINI_API_KEY=bench GEMINI_BASE_URL="http://127.0.0.1:$GEMINI_PORT"
  pid=$SERVER_PID
  base="http://127.0.0.1:$port"
  "$CLIENT" setup "$base" >"$WORK/setup4.json"
  sessions_lua "$WORK/post4.lua" "$(jq -r .token "$WORK/setup4.json")" "$(jq -c .sessions "$WORK/setup4.json")"
  log "[$store] case 4: POST message through fake-gemini"
  run_wrk "4. POST /api/chat/{id}/message (fake-gemini)" "$store" "$pid" 64 64 "$base" "$WORK/post4.lua"
  kill "$pid"

  # Case 10: a burst of plain sends at once, each to its own session, with a
  # 2 s mock model: what the store adds to the model's time under a burst.
  if [ "$BURST" -gt 0 ]; then
    port=$(free_port)
    start_server "$port" "${STORE_ENV[@]}" CONVO_JWT_SECRET="$SECRET" CONVO_MOCK_LATENCY_MS=2000
    pid=$SERVER_PID
    base="http://127.0.0.1:$port"
    "$CLIENT" setup "$base" >"$WORK/setup10.json"
    log "[$store] case 10: $BURST sends at once, 2 s model"
    "$CLIENT" sends "$base" "$(jq -r .token "$WORK/setup10.json")" "$(jq -r .agent "$WORK/setup10.json")" "$BURST" |
      jq -c --arg s "$store" '. + {store: $s}' >>"$WORK/burst"
    kill "$pid"
  fi
done

# Case 9: a tool turn (memory store): the fake Gemini scripted to call the
# agent's webhook tool once, then to answer; the webhook is the fake's own
# /__webhook, answering at once. Two model calls, one webhook call and four
# stored messages per send, compared with case 4 (one model call, two messages).
if [[ " $STORES " == *" memory "* ]]; then
  TOOL_FAKE_PORT=$(free_port)
  "$FAKE" --port "$TOOL_FAKE_PORT" --knobs '{"function_calls":[{"name":"lookup_order","args":{"order":42}}]}' >/dev/null 2>&1 &
  PIDS+=("$!")
  wait_http "http://127.0.0.1:$TOOL_FAKE_PORT/__health"
  port=$(free_port)
  start_server "$port" CONVO_STORE=memory CONVO_JWT_SECRET="$SECRET" GEMINI_API_KEY=bench \
    GEMINI_BASE_URL="http://127.0.0.1:$TOOL_FAKE_PORT" CONVO_TOOLS_ALLOW_PRIVATE_NETWORKS=true
  pid=$SERVER_PID
  base="http://127.0.0.1:$port"
  "$CLIENT" setup "$base" "http://127.0.0.1:$TOOL_FAKE_PORT/__webhook" >"$WORK/setup9.json"
  sessions_lua "$WORK/post9.lua" "$(jq -r .token "$WORK/setup9.json")" "$(jq -c .sessions "$WORK/setup9.json")"
  log "case 9: POST message, a tool turn through fake-gemini and a webhook"
  run_wrk "9. POST message, tool turn (fake-gemini)" memory "$pid" 64 64 "$base" "$WORK/post9.lua"
  kill "$pid"
fi

# Case 7: thousands of slow streams at once (memory store; 10 chunks, 1 s apart).
port=$(free_port)
start_server "$port" CONVO_STORE=memory CONVO_MOCK_CHUNKS=10 CONVO_MOCK_CHUNK_DELAY_MS=1000
pid=$SERVER_PID
base="http://127.0.0.1:$port"
"$CLIENT" setup "$base" >"$WORK/setup7.json"
sleep 1
STREAM_RSS_BEFORE=$(rss_kib "$pid" VmRSS)
reset_peak "$pid"
log "case 7: $STREAMS concurrent streams, 10 chunks 1 s apart"
"$CLIENT" streams "$base" "$(jq -r .token "$WORK/setup7.json")" "$(jq -r .agent "$WORK/setup7.json")" "$STREAMS" >"$WORK/streams.json"
STREAM_RSS_PEAK=$(rss_kib "$pid" VmHWM)
kill "$pid"

# ---- the table ----
CEILING_RPS=$(awk -F'|' '$1 ~ /^ceiling/ {print $3}' "$ROWS")
echo
echo "convo-server load benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${SECONDS_PER_CASE} s per case, 64 connections unless noted"
echo
printf '| %-46s | %-7s | %10s | %8s | %8s | %8s | %6s | %9s |\n' case store "req/s" "ceiling" "p50 ms" "p99 ms" errors "peak RSS"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..48})" "---------" "------------" "----------" "----------" "----------" "--------" "-----------"
while IFS='|' read -r name store rps p50 p99 errors peak; do
  ratio=""
  [ -n "$rps" ] && [ -n "$CEILING_RPS" ] && ratio=$(awk -v a="$rps" -v b="$CEILING_RPS" 'BEGIN {printf "%.0f%%", 100 * a / b}')
  printf '| %-46s | %-7s | %10s | %8s | %8s | %8s | %6s | %9s |\n' "$name" "$store" "$rps" "$ratio" "$p50" "$p99" "$errors" "${peak:+$peak MiB}"
done <"$ROWS"
# SQLite's target: reads (cases 1 and 2) at half the memory store's rate or more.
awk -F'|' '$1 ~ /^[12]\. / && ($2 == "memory" || $2 == "sqlite") {rps[substr($1, 1, 1), $2] = $3}
  END {
    for (c = 1; c <= 2; c++) if (rps[c, "memory"] > 0 && rps[c, "sqlite"] != "")
      line = line sprintf("%scase %d %.0f%%", line == "" ? "" : ", ", c, 100 * rps[c, "sqlite"] / rps[c, "memory"])
    if (line != "") print "\nSQLite / memory on reads (target >= 50%): " line
  }' "$ROWS"
# A project API key's cost: case 11 against case 1 (the same read with a token), per store.
awk -F'|' '$1 ~ /^1\. / {one[$2] = $3} $1 ~ /^11\. / {key[$2] = $3}
  END { for (s in key) if (one[s] > 0) printf "\n11. a rate-limited project API key reads at %.0f%% of a token'"'"'s rate (%s; case 11 / case 1 req/s)\n", 100 * key[s] / one[s], s }' "$ROWS"
# The tool turn's cost: case 4 / case 9 throughput on the memory store (target <= 2.5x).
awk -F'|' '$2 == "memory" && $1 ~ /^4\. / {plain = $3; plain50 = $4} $1 ~ /^9\. / {tool = $3; tool50 = $4}
  END { if (plain > 0 && tool > 0) printf "\n9. a tool turn costs %.2fx a plain turn (case 4 / case 9 req/s, memory; target <= 2.5x); p50 %.2fx\n", plain / tool, (plain50 > 0 ? tool50 / plain50 : 0) }' "$ROWS"
echo
echo "Store operations per request (from /metrics, answered requests only):"
while IFS='|' read -r name store total each; do
  printf '   %-46s %-7s %5s  %s\n' "$name" "$store" "$total" "$each"
done <"$OPS"
echo
echo "6. one send, p50 by prior messages (ratio = at 10,000 / at 10):"
jq -r '"   \(.store): 10 → \(.p50_ms_at_10 * 100 | round / 100) ms, 1,000 → \(.p50_ms_at_1000 * 100 | round / 100) ms, 10,000 → \(.p50_ms_at_10000 * 100 | round / 100) ms; ratio \(.p50_ms_at_10000 / .p50_ms_at_10 * 100 | round / 100)"' "$GROWTH"
if [ -s "$WORK/burst" ]; then
  echo
  echo "10. $BURST plain sends at once, each to its own session, 2 s mock model (seconds until the last answer):"
  jq -r '"   \(.store): \(.seconds * 100 | round / 100) s, \(.completed) completed, \(.failed) failed"' "$WORK/burst"
fi
echo
jq -r --argjson before "$STREAM_RSS_BEFORE" --argjson peak "$STREAM_RSS_PEAK" \
  '"7. \(.streams) concurrent streams (memory store): \(.completed) completed, \(.failed) failed in \(.seconds * 10 | round / 10) s; RSS \($before / 1024 * 10 | round / 10) MiB before, peak \($peak / 1024 * 10 | round / 10) MiB: \((($peak - $before) / .streams) * 10 | round / 10) KiB per open stream"' \
  "$WORK/streams.json"
