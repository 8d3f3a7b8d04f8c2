#!/usr/bin/env bash
# The demo, from a fresh machine: set-up, then embedded Postgres + simulator + runtime +
# dashboard. Prints the dashboard URL and the admin token. Extra arguments go to `demo`.
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "${SCRIPT_DIR}/.."
"${SCRIPT_DIR}/setup.sh"
# shellcheck source=scripts/pg-env.sh
source "${SCRIPT_DIR}/pg-env.sh"
pg_env_setup "$(pwd)"
exec cargo run --release --bin bytebot -- demo "$@"
