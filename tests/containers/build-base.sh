#!/usr/bin/env bash
# Build a Debian bookworm base image with python3 locally (no registry is reachable) and
# import it into podman as $1 (default localhost/dfs-test-base:bookworm).
# The image is the cache: when it already exists this returns at once; DFS_REBUILD_BASE=1 forces a rebuild.
set -euo pipefail

image=${1:-localhost/dfs-test-base:bookworm}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}

if [ "${DFS_REBUILD_BASE:-0}" != 1 ] && podman image exists "$image"; then
    echo "build-base: $image is cached"
    exit 0
fi

hooks=$(mktemp -d)
trap 'rm -rf "$hooks"' EXIT

# Builds here reach PyPI through a TLS-intercepting proxy whose CA the host trusts in
# /usr/local/share/ca-certificates; the image must trust the same certificates.
mkdir -p "$hooks/extra-ca"
cp /usr/local/share/ca-certificates/*.crt "$hooks/extra-ca/" 2>/dev/null || true
cat > "$hooks/customize01.sh" <<HOOK
#!/bin/sh
set -e
root="\$1"
mkdir -p "\$root/usr/local/share/ca-certificates"
cp "$hooks"/extra-ca/*.crt "\$root/usr/local/share/ca-certificates/" 2>/dev/null || true
chroot "\$root" update-ca-certificates >/dev/null
rm -rf "\$root"/var/lib/apt/lists/* "\$root"/var/cache/apt/*
HOOK
chmod +x "$hooks/customize01.sh"

start=$(date +%s)
mmdebstrap \
    --quiet \
    --variant=minbase \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --hook-dir="$hooks" \
    --dpkgopt=force-unsafe-io \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --include=python3,python3-venv,python-is-python3,ca-certificates \
    bookworm - http://deb.debian.org/debian \
  | podman import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
        --change 'ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt' \
        --change 'CMD ["python3"]' \
        - "$image" >/dev/null
echo "build-base: built $image in $(( $(date +%s) - start )) s"
