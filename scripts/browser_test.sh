#!/usr/bin/env bash
# End-to-end test of the API console in a real browser: headless Chromium
# (Debian's package) driven by playwright-core (npm) opens /docs on a running
# convo-server and, with Swagger UI's "Try it out", registers, creates a
# project, an agent and a chat session, and sends a message
# (tests/browser/swagger_ui.mjs). Screenshots go to
# ${CONVO_ARTIFACTS:-target/artifacts}/browser/. Run by scripts/test.sh; alone:
#
#   bash scripts/browser_test.sh [path/to/convo-server]
#
# Chromium is installed with apt-get when no chromium binary is found;
# playwright-core once into ${CONVO_TOOLS_CACHE:-~/.cache/convo-tools}/browser,
# outside the clone, then reused.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${1:-target/debug/convo-server}"
PLAYWRIGHT_VERSION=1.65.1
TOOLS="${CONVO_TOOLS_CACHE:-$HOME/.cache/convo-tools}/browser"
ARTIFACTS="${CONVO_ARTIFACTS:-target/artifacts}/browser"
log() { printf '==> %s\n' "$*" >&2; }

find_chromium() {
  local c
  for c in chromium chromium-browser; do
    command -v "$c" >/dev/null 2>&1 && { command -v "$c"; return 0; }
  done
  return 1
}
if ! CHROMIUM=$(find_chromium); then
  log "installing Debian's chromium"
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  CHROMIUM=$(find_chromium)
fi
log "browser: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"

# Node 18+ and npm run playwright-core (nothing else in the suite needs Node).
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' 2>/dev/null \
  || ! command -v npm >/dev/null 2>&1; then
  log "installing Node.js and npm (for playwright-core)"
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi

if [ "$(node -p "try { require('$TOOLS/node_modules/playwright-core/package.json').version } catch { '' }" 2>/dev/null)" != "$PLAYWRIGHT_VERSION" ]; then
  log "installing playwright-core $PLAYWRIGHT_VERSION into $TOOLS"
  mkdir -p "$TOOLS"
  printf '{\n  "private": true,\n  "description": "convo: tools for scripts/browser_test.sh",\n  "dependencies": { "playwright-core": "%s" }\n}\n' \
    "$PLAYWRIGHT_VERSION" >"$TOOLS/package.json"
  (cd "$TOOLS" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi

[ -x "$BIN" ] || cargo build -p convo-server --bin convo-server
mkdir -p "$ARTIFACTS"
ARTIFACTS=$(cd "$ARTIFACTS" && pwd)
rm -f "$ARTIFACTS"/swagger_ui-*.png
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
CONVO_LISTEN="127.0.0.1:$PORT" CONVO_STORE=memory CONVO_LOG=warn \
  CONVO_JWT_SECRET="browser-$RANDOM-$RANDOM-0123456789abcdef" GEMINI_API_KEY= \
  "$BIN" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 200); do curl -sf -o /dev/null "$BASE/healthz" && break; sleep 0.05; done

log "Swagger UI at $BASE/docs in headless Chromium"
status=0
CHROMIUM_BIN="$CHROMIUM" CONVO_BROWSER_TOOLS="$TOOLS" \
  timeout 180 node tests/browser/swagger_ui.mjs "$BASE" "$ARTIFACTS" || status=$?

for png in "$ARTIFACTS"/*.png; do
  if [ -e "$png" ]; then log "screenshot (CI artifact): $png"; fi
done
if [ "$status" -ne 0 ]; then
  log "the browser test failed (exit $status); the server's log:"; tail -50 "$WORK/server.log" >&2
  exit "$status"
fi
if grep -q 'internal error\|panicked' "$WORK/server.log"; then
  log "internal errors in the server's log:"; grep 'internal error\|panicked' "$WORK/server.log" | head -20 >&2; exit 1
fi
