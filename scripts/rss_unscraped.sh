#!/usr/bin/env bash
# Memory of a server under steady load that nobody scrapes for metrics (see
# README, "Performance"): before the metrics upkeep, every request's latency
# sample was kept until a scrape, so RSS grew with the request count.
#
# Starts the server (release build, memory store, mock model), loads
# `GET /healthz` and `GET /api/projects` (a JSON list, with a bearer token)
# with wrk for a fixed time from 127.0.0.1, never requests /metrics, and
# prints the server's RSS (from /proc) every RSS_SAMPLE_SECONDS.
#
#   bash scripts/rss_unscraped.sh                 # builds, 120 s of load
#   RSS_SECONDS=30 bash scripts/rss_unscraped.sh
#   bash scripts/rss_unscraped.sh path/to/convo-server   # another build, to compare
#
# Bounded in time, targets 127.0.0.1 only, stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${RSS_SECONDS:-120}"
EVERY="${RSS_SAMPLE_SECONDS:-10}"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { printf '==> %s\n' "$*" >&2; }

for tool in wrk jq curl; do
  command -v "$tool" >/dev/null || { log "installing $tool"; apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
done

BIN="${1:-}"
if [ -z "$BIN" ]; then
  log "building (release)"
  cargo build --release -p convo-server --bin convo-server 2>&1 | tail -n 1 >&2
  BIN="${CARGO_TARGET_DIR:-target}/release/convo-server"
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
env -i PATH="$PATH" CONVO_LISTEN="127.0.0.1:$PORT" CONVO_STORE=memory CONVO_LOG=warn \
  CONVO_LOGIN_FAILURES_PER_MINUTE=0 "$BIN" >"$WORK/server.log" 2>&1 &
SERVER=$!
PIDS+=("$SERVER")
for _ in $(seq 200); do curl -sf -o /dev/null "$BASE/healthz" && break; sleep 0.05; done

# A user with a few projects, and a token for the JSON route.
EMAIL="rss-$RANDOM-$RANDOM@example.com"
BODY="{\"email\":\"$EMAIL\",\"password\":\"rss-benchmark-password\"}"
curl -sf -o /dev/null -H 'content-type: application/json' -d "$BODY" "$BASE/api/auth/register"
TOKEN=$(curl -sf -H 'content-type: application/json' -d "$BODY" "$BASE/api/auth/token" | jq -r .access_token)
for i in 1 2 3 4 5; do
  curl -sf -o /dev/null -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d "{\"name\":\"project $i\"}" "$BASE/api/projects"
done
printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$TOKEN" >"$WORK/bearer.lua"

rss_mib() { awk '$1 == "VmRSS:" {printf "%.1f", $2 / 1024}' "/proc/$SERVER/status"; }

log "loading /healthz and /api/projects for ${DURATION} s, no scrape"
wrk -t1 -c16 -d"${DURATION}s" "$BASE/healthz" >"$WORK/healthz.txt" &
PIDS+=("$!")
wrk -t1 -c16 -d"${DURATION}s" -s "$WORK/bearer.lua" "$BASE/api/projects" >"$WORK/projects.txt" &
PIDS+=("$!")

echo "| seconds | RSS MiB |"
echo "|--------:|--------:|"
echo "| 0 | $(rss_mib) |"
for t in $(seq "$EVERY" "$EVERY" "$DURATION"); do
  sleep "$EVERY"
  echo "| $t | $(rss_mib) |"
done
sleep 1
REQUESTS=$(awk '/requests in/ {n += $1} END {print n}' "$WORK/healthz.txt" "$WORK/projects.txt")
echo
echo "$REQUESTS requests in ${DURATION} s ($(basename "$BIN"), $(nproc) cores)"
