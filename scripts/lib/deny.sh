# Sourced by scripts/test.sh: installs cargo-deny once, cached outside the
# clone (like secantusd-rs in scripts/lib/mongo.sh), and runs it against
# deny.toml.
#
# Licenses, bans and sources need only crates.io. Advisories need the RustSec
# advisory database, which cargo-deny clones from GitHub; where GitHub cannot
# be reached it is checked only if a copy is already here (`cargo deny fetch`
# leaves one under $CARGO_HOME/advisory-dbs; CONVO_ADVISORY_DB names another
# such directory), and otherwise one line says it was not checked.

TOOLS="${CONVO_TOOLS_DIR:-$HOME/.cache/convo-tools}"
DENY_VERSION=0.20.2
DENY="$TOOLS/cargo-deny-$DENY_VERSION/bin/cargo-deny"

install_deny() {
  [ -x "$DENY" ] && return 0
  echo "==> building cargo-deny $DENY_VERSION into $TOOLS (first run only, ~10 min on 2 cores)"
  cargo install cargo-deny --version "$DENY_VERSION" --locked --root "$TOOLS/cargo-deny-$DENY_VERSION"
}

# run_deny: fails on a license, ban or source problem, and on an advisory when
# the database is here; never on the database being out of reach.
run_deny() {
  install_deny
  local db="${CONVO_ADVISORY_DB:-${CARGO_HOME:-$HOME/.cargo}/advisory-dbs}"
  local dir
  dir="$(compgen -G "$db/advisory-db-*" | head -n 1 || true)"
  if [ -n "$dir" ] && [ -d "$dir/crates" ]; then
    # The same rules, pointed at that copy, told not to fetch it, and not
    # to refuse it for its age (which only says the network is out of
    # reach): its date is printed instead.
    local config status=0
    config="$(mktemp)"
    sed "s|^\[advisories\]$|[advisories]\ndb-path = \"$db\"\nmaximum-db-staleness = \"P3650D\"|" deny.toml >"$config"
    "$DENY" deny --offline --config "$config" check licenses bans sources advisories || status=$?
    rm -f "$config"
    local updated
    updated="$(git -C "$dir" log -1 --format=%cs 2>/dev/null || echo unknown)"
    [ "$status" -eq 0 ] && echo "cargo deny: advisories checked against the RustSec database in $dir (last updated $updated)"
    return "$status"
  fi
  "$DENY" deny check licenses bans sources
  echo "cargo deny: advisories NOT checked: no RustSec advisory database in $db (cargo-deny fetches it from GitHub, out of reach here); run \`cargo deny fetch\` where GitHub is reachable, or set CONVO_ADVISORY_DB to such a directory"
}
