#!/usr/bin/env bash
# Re-fetches the dashboard's vendored chart library from the npm registry with `npm pack`,
# checks the tarball against the pinned SHA-256, and copies the distributed files into
# dashboard/vendor/uplot/. Run it to verify the vendored copy or after bumping the version
# (then update UPLOT_SHA256, the paths in dashboard/index.html and src/http/dashboard.rs,
# and dashboard/vendor/README.md).
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${SCRIPT_DIR}/.." && pwd)"

UPLOT_VERSION="1.6.32"
UPLOT_SHA256="4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d"
DEST="${REPO_ROOT}/dashboard/vendor/uplot"
FILES=(dist/uPlot.iife.min.js dist/uPlot.min.css LICENSE)

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
cd "${work}"
npm pack --silent "uplot@${UPLOT_VERSION}" >/dev/null
tarball="uplot-${UPLOT_VERSION}.tgz"
actual="$(sha256sum "${tarball}" | cut -d' ' -f1)"
if [[ "${actual}" != "${UPLOT_SHA256}" ]]; then
    printf '[vendor] checksum mismatch for %s: expected %s, got %s\n' "${tarball}" "${UPLOT_SHA256}" "${actual}" >&2
    exit 1
fi
tar xzf "${tarball}"
mkdir -p "${DEST}"
changed=0
for f in "${FILES[@]}"; do
    target="${DEST}/$(basename "${f}")"
    if ! cmp -s "package/${f}" "${target}"; then
        cp "package/${f}" "${target}"
        changed=1
        printf '[vendor] updated %s\n' "${target#"${REPO_ROOT}"/}" >&2
    fi
done
if [[ "${changed}" == 0 ]]; then
    printf '[vendor] uplot %s verified (sha256 %s); vendored files are identical\n' "${UPLOT_VERSION}" "${UPLOT_SHA256}" >&2
fi
