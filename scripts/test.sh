#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: installs and starts what the
# tests need, builds once, runs every test (in parallel with cargo-nextest
# when it is installed), the documentation examples and the tools' suites,
# and last the REST API tests again on SQLite and on MongoDB.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# The end-to-end tests start the workspace's own fake model server
# (convo-fake) in-process: no Node, nothing outside the clone.

# A real MongoDB-wire server for the Mongo store's tests: SecantusDB's
# secantusd-rs (WiredTiger storage), built once into a
# cache outside the clone, then reused.
. scripts/lib/mongo.sh
trap stop_mongo EXIT
start_mongo
export CONVO_TEST_MONGODB_URI="mongodb://127.0.0.1:$MONGO_PORT/?directConnection=true"
export CONVO_TEST_SECANTUS_BIN="$SECANTUS"
log "MongoDB-wire server (secantusd-rs) on port $MONGO_PORT"

# The dependency tree's licenses, bans, sources and advisories (deny.toml).
. scripts/lib/deny.sh
log "cargo deny: licenses, bans, sources, and advisories when the RustSec database is here"
run_deny

log "building the workspace and its tests"
cargo build --workspace --all-features --all-targets

if cargo nextest --version >/dev/null 2>&1; then
  log "running the tests with cargo-nextest"
  cargo nextest run --workspace --all-features --no-fail-fast
else
  log "cargo-nextest not found: running the tests with cargo test"
  cargo test --workspace --all-features --no-fail-fast --lib --bins --tests --examples
fi

# An embedding program on reqwest's default TLS (aws-lc-rs) beside convo-core:
# built as the README says to depend on it, and with ring on too, it must not
# hit rustls's "cannot determine the CryptoProvider" panic. Its own lock file
# (not --locked: it follows convo-core's dependencies as they change, adding
# only what they add), the workspace's target directory (most of its crates
# are built already).
log "an embedding app with reqwest's default TLS beside convo-core (tests/tls-app)"
for features in "" "--features=with-ring"; do
  CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" \
    cargo run -q --manifest-path tests/tls-app/Cargo.toml $features
done

log "the library's examples (convo-core/examples), on the mock model"
cargo run -q -p convo-core --all-features --example tools
cargo run -q -p convo-core --all-features --example embed

log "running the documentation examples"
cargo test --workspace --all-features --doc
log "the API documentation builds without a warning (missing docs, broken links)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps

log "property-based API tests: schemathesis against the running server's OpenAPI document"
bash scripts/schemathesis.sh target/debug/convo-server
log "the OpenAI-compatible /v1 routes with the official openai Python SDK"; bash scripts/openai_sdk.sh target/debug/convo-server
log "Swagger UI in headless Chromium: register, project, agent, chat, message via Try it out"; bash scripts/browser_test.sh target/debug/convo-server

log "running the REST API tests again, on the SQLite store (a fresh file per server)"
if cargo nextest --version >/dev/null 2>&1; then
  CONVO_TEST_API_STORE=sqlite cargo nextest run --workspace --all-features --no-fail-fast --test api
else
  CONVO_TEST_API_STORE=sqlite cargo test --workspace --all-features --no-fail-fast --test api
fi

# Last, so that the run closes on a test runner's summary.
log "running the REST API tests again, on the MongoDB store"
if cargo nextest --version >/dev/null 2>&1; then
  CONVO_TEST_API_MONGODB_URI="$CONVO_TEST_MONGODB_URI" cargo nextest run --workspace --all-features --no-fail-fast --test api
else
  CONVO_TEST_API_MONGODB_URI="$CONVO_TEST_MONGODB_URI" cargo test --workspace --all-features --no-fail-fast --test api
fi
