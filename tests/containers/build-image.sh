#!/usr/bin/env bash
# Build the project's Dockerfile, unmodified, with podman and no registry:
# the base comes from build-base.sh (Debian bookworm made locally) through the Dockerfile's BASE argument.
#   tests/containers/build-image.sh [IMAGE]     (default localhost/dfs:test)
set -euo pipefail

image=${1:-localhost/dfs:test}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
base=${DFS_TEST_BASE_IMAGE:-localhost/dfs-test-base:bookworm}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}

"$here/build-base.sh" "$base"

previous=$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
start=$(date +%s)
# --format docker keeps the HEALTHCHECK (the OCI format has no place for it).
podman build \
    --pull=never \
    --format docker \
    --build-arg "BASE=$base" \
    --tag "$image" \
    --file "$repo/Dockerfile" \
    "$repo" >&2
echo "build-image: built $image in $(( $(date +%s) - start )) s"
# The image this one replaced is no use any more; the cached layers below it stay.
current=$(podman image inspect --format '{{.Id}}' "$image")
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then
    podman rmi "$previous" >/dev/null 2>&1 || true
fi
