#!/usr/bin/env bash
# Rewrites convo-core/tests/public-api.txt from the current public API (after
# a change to it made on purpose); review the diff and commit it.
set -euo pipefail
cd "$(dirname "$0")/.."
CONVO_BLESS_PUBLIC_API=1 cargo test -q -p convo-core --all-features --test public_api
git --no-pager diff --stat -- convo-core/tests/public-api.txt
