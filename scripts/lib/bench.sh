# What scripts/bench.sh and scripts/bench-ab.sh share: their tools, ports,
# readiness waits and wrk scripts. Sourced; expects `log` to be defined.

# wrk and jq (installed when missing), and room for many connections.
bench_tools() {
  for tool in wrk jq; do
    command -v "$tool" >/dev/null || { log "installing $tool"; apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
  done
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() {
  for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done
  log "no answer from $1"; return 1
}

bearer_lua() { # FILE TOKEN [METHOD BODY]
  {
    printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$2"
    printf 'wrk.headers["Content-Type"] = "application/json"\n'
    if [ -n "${3:-}" ]; then printf 'wrk.method = "%s"\n' "$3"; fi
    if [ -n "${4:-}" ]; then printf "wrk.body = '%s'\n" "$4"; fi
  } >"$1"
}

# One wrk thread per connection, each bound to its own session, so no two
# connections ever send to one session at once (that would be a 409).
sessions_lua() { # FILE TOKEN SESSIONS_JSON
  cat >"$1" <<LUA
local sessions = { $(jq -r '[.[] | "\"" + . + "\""] | join(", ")' <<<"$3") }
local n = 0
function setup(thread)
  n = n + 1
  thread:set("session", sessions[(n - 1) % #sessions + 1])
end
function init(args)
  path = "/api/chat/" .. session .. "/message"
end
function request()
  return wrk.format("POST", path, { ["Authorization"] = "Bearer $2", ["Content-Type"] = "application/json" }, '{"content":"hello"}')
end
LUA
}
