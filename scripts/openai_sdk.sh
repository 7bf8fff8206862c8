#!/usr/bin/env bash
# Convo's OpenAI-compatible /v1 routes against the official `openai` Python
# SDK (PyPI): scripts/openai_sdk_test.py against a running convo-server
# (memory store, mock model) with two registered users. The first user also
# has an `openai:` agent answered by the workspace's fake model server
# (convo-fake), which can be scripted to call tools. Run by scripts/test.sh;
# alone:
#
#   bash scripts/openai_sdk.sh [path/to/convo-server]
#
# The SDK is installed once into a virtualenv outside the clone
# (~/.cache/convo-tools/venv-openai), then reused.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${1:-target/debug/convo-server}"
VERSION=3.51.0
VENV="${CONVO_TOOLS_CACHE:-$HOME/.cache/convo-tools}/venv-openai"
log() { printf '==> %s\n' "$*" >&2; }

if ! "$VENV/bin/python" -c "import openai, sys; sys.exit(openai.__version__ != '$VERSION')" 2>/dev/null; then
  log "installing openai $VERSION into $VENV"
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  fi
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "openai==$VERSION"
fi

[ -x "$BIN" ] || cargo build -p convo-server --bin convo-server
FAKE="$(dirname "$BIN")/convo-fake"
[ -x "$FAKE" ] || cargo build -p convo-fake --bin convo-fake
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
FAKE_PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
"$FAKE" --port "$FAKE_PORT" >"$WORK/fake.log" 2>&1 &
FAKE_PID=$!
CONVO_LISTEN="127.0.0.1:$PORT" CONVO_STORE=memory CONVO_LOG=warn \
  CONVO_JWT_SECRET="openai-sdk-$RANDOM-$RANDOM-0123456789abcdef" GEMINI_API_KEY= \
  OPENAI_BASE_URL="http://127.0.0.1:$FAKE_PORT/v1" OPENAI_API_KEY=sk-openai-sdk-test \
  "$BIN" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER $FAKE_PID 2>/dev/null || true; wait $SERVER $FAKE_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 200); do curl -sf -o /dev/null "http://127.0.0.1:$FAKE_PORT/__health" && break; sleep 0.05; done
for _ in $(seq 200); do curl -sf -o /dev/null "$BASE/healthz" && break; sleep 0.05; done

json_field() { python3 -c "import json, sys; print(json.load(sys.stdin)[\"$1\"])"; }

# A user with a project, an agent (mock model), a chat session and an
# agent on the fake's OpenAI wire; prints "token agent session fake_agent".
user() {
  local creds token project agent session fake_agent
  creds="{\"email\":\"openai-sdk-$RANDOM$RANDOM@example.com\",\"password\":\"correct horse battery\"}"
  curl -sf -o /dev/null -H 'content-type: application/json' -d "$creds" "$BASE/api/auth/register"
  token=$(curl -sf -H 'content-type: application/json' -d "$creds" "$BASE/api/auth/token" | json_field access_token)
  project=$(curl -sf -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"name":"SDK"}' "$BASE/api/projects" | json_field id)
  agent=$(curl -sf -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"name":"Echo","system_prompt":"Be brief."}' "$BASE/api/projects/$project/agents" | json_field id)
  session=$(curl -sf -X POST -H "authorization: Bearer $token" "$BASE/api/chat/start/$agent" | json_field id)
  fake_agent=$(curl -sf -H "authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"name":"Fake","system_prompt":"Be brief.","model":"openai:gpt-5.1-mini"}' \
    "$BASE/api/projects/$project/agents" | json_field id)
  echo "$token $agent $session $fake_agent"
}

read -r TOKEN AGENT SESSION TOOL_AGENT < <(user)
read -r _ OTHER_AGENT _ _ < <(user)

log "openai $VERSION (Python SDK) against $BASE/v1"
status=0
CONVO_BASE="$BASE" CONVO_TOKEN="$TOKEN" CONVO_AGENT="$AGENT" CONVO_SESSION="$SESSION" \
  CONVO_OTHER_AGENT="$OTHER_AGENT" CONVO_TOOL_AGENT="$TOOL_AGENT" "$VENV/bin/python" scripts/openai_sdk_test.py || status=$?

if grep -q 'internal error\|panicked' "$WORK/server.log"; then
  log "internal errors in the server's log:"; grep 'internal error\|panicked' "$WORK/server.log" | head -20 >&2; exit 1
fi
exit "$status"
