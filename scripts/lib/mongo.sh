# Sourced by scripts/test.sh and scripts/bench.sh: installs (once, cached
# outside the clone) and starts SecantusDB's secantusd-rs, a MongoDB-wire
# server on WiredTiger (see docs/mongodb.md), on a free port.
#
# After `start_mongo`: MONGO_PORT, MONGO_PID, MONGO_DIR and SECANTUS are set;
# the caller's EXIT trap should run `stop_mongo`.

TOOLS="${CONVO_TOOLS_DIR:-$HOME/.cache/convo-tools}"
SECANTUS="$TOOLS/secantus/bin/secantusd-rs"

install_mongo() {
  [ -x "$SECANTUS" ] && return 0
  echo "==> building secantusd-rs into $TOOLS (first run only, ~8 min on 2 cores)"
  command -v cmake >/dev/null || { apt-get update -qq && apt-get install -y -qq cmake >/dev/null; }
  cargo install secantus-mdb --version 0.5.3-beta.196 --ignore-rust-version --locked --root "$TOOLS/secantus"
}

start_mongo() {
  install_mongo
  MONGO_DIR="$(mktemp -d)"
  "$SECANTUS" --host 127.0.0.1 --port 0 --storage-path "$MONGO_DIR/data" --cache-size 256M >"$MONGO_DIR/log" 2>&1 &
  MONGO_PID=$!
  MONGO_PORT=""
  for _ in $(seq 100); do
    MONGO_PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$MONGO_DIR/log" | head -n 1)
    [ -n "$MONGO_PORT" ] && break
    sleep 0.1
  done
  if [ -z "$MONGO_PORT" ]; then
    echo "secantusd-rs did not start:" >&2
    cat "$MONGO_DIR/log" >&2
    return 1
  fi
}

stop_mongo() {
  [ -n "${MONGO_PID:-}" ] && { kill "$MONGO_PID" 2>/dev/null; wait "$MONGO_PID" 2>/dev/null; }
  [ -n "${MONGO_DIR:-}" ] && rm -rf "$MONGO_DIR"
  return 0
}
