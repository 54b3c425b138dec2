#!/usr/bin/env bash
# docker/base-image.sh - make sure the docker engine has debian:bookworm-slim.
#
# With --pull it first tries "docker pull" (for a machine that reaches a registry). Otherwise,
# or when that fails, it builds the image from the Debian mirror (direct or through a proxy):
#   debootstrap --variant=minbase bookworm <rootfs> <mirror>
# with the mirror and proxy read from the host's apt configuration, trims the rootfs the way
# the official slim image is trimmed, and imports it with
#   tar -C <rootfs> -c . | docker import - debian:bookworm-slim
# It is idempotent: an engine that already has the tag is left alone (use --force to rebuild).
#
# Usage: docker/base-image.sh [--force] [--pull] [--tag TAG]
# Env:   DEBIAN_MIRROR overrides the mirror read from /etc/apt; DOCKER_HOST is honoured.
# Needs: root (debootstrap), debootstrap, docker.
set -euo pipefail

LOG_TAG=base-image
. "$(dirname "$0")/lib.sh"

tag=debian:bookworm-slim
force=0
pull=0
while [ $# -gt 0 ]; do
    case "$1" in
    --force) force=1 ;;
    --pull) pull=1 ;;
    --tag) tag=$2; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "base-image: unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done

if [ "$force" = 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
    log "$tag is already in the engine; nothing to do"
    exit 0
fi

# A registry, when the caller says there is one, gives the real image.
if [ "$force" = 0 ] && [ "$pull" = 1 ]; then
    if timeout 60 docker pull "$tag" >/dev/null 2>&1; then
        log "pulled $tag from the registry"
        exit 0
    fi
    log "no registry answers; building $tag with debootstrap"
fi

if [ "$(id -u)" != 0 ]; then
    echo "base-image: debootstrap needs root; run this as root (or with sudo)" >&2
    exit 1
fi
command -v debootstrap >/dev/null || { echo "base-image: debootstrap is not installed" >&2; exit 1; }

mirror=${DEBIAN_MIRROR:-$(apt_debian_mirror bookworm)}
if [ -z "$mirror" ]; then
    echo "base-image: no enabled 'deb ... bookworm main' source in /etc/apt; set DEBIAN_MIRROR" >&2
    exit 1
fi
# debootstrap fetches with wget, which reads the proxy from the environment, not from apt.
http_proxy=$(apt_proxy http)
https_proxy=$(apt_proxy https)
export http_proxy https_proxy
log "mirror $mirror${http_proxy:+, proxy $http_proxy}"

work=$(mktemp -d "${TMPDIR:-/tmp}/atrousd-rootfs.XXXXXX")
cleanup() {
    # A failed debootstrap can leave /proc or /sys mounted inside the rootfs.
    local m
    for m in $(awk -v r="$work/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
rootfs=$work/rootfs

start=$(date +%s)
if ! debootstrap --variant=minbase --merged-usr bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 30 "$work/debootstrap.log" >&2
    [ -f "$rootfs/debootstrap/debootstrap.log" ] && tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
    echo "base-image: debootstrap failed" >&2
    exit 1
fi
log "debootstrap done in $(($(date +%s) - start))s"

# The image's own sources are Debian's defaults, as in the official image; builds on this host
# swap in the host's sources through build arguments (see docker/README.md).
rm -f "$rootfs/etc/apt/sources.list"
cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

# The container tweaks the official image carries (debuerreotype's "slim" and docker bits):
# no services started by package scripts, no caches, docs or translations kept by apt/dpkg.
cat >"$rootfs/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
# Services are not started inside a container build.
exit 101
EOF
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-no-languages" <<'EOF'
Acquire::Languages "none";
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-gzip-indexes" <<'EOF'
Acquire::GzipIndexes "true";
EOF
cat >"$rootfs/etc/apt/apt.conf.d/docker-autoremove-suggests" <<'EOF'
Apt::AutoRemove::SuggestsImportant "false";
EOF
mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d"
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
# The "slim" variant: files that containers do not need stay out (copyrights are kept).
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
# Apply the same exclusions to what debootstrap already unpacked.
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$rootfs"/usr/share/{groff,info,linda,lintian,locale,man}/* 2>/dev/null || true
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
    "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/var/tmp/* "$rootfs"/debootstrap 2>/dev/null || true
mkdir -p "$rootfs/var/lib/apt/lists/partial" "$rootfs/var/cache/apt/archives/partial" "$rootfs/var/log/apt"
# Host-specific files a container gets from the engine at run time.
: >"$rootfs/etc/resolv.conf"
: >"$rootfs/etc/hostname"
rm -f "$rootfs/etc/machine-id" && : >"$rootfs/etc/machine-id"

tar --numeric-owner --xattrs -C "$rootfs" -c . |
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' \
        --change 'LABEL io.atrousd.base="debootstrap --variant=minbase bookworm"' \
        --message "debootstrap --variant=minbase bookworm from the host's apt mirror" \
        - "$tag" >/dev/null
log "imported $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.1f MB", $1 / 1e6 }')) in $(($(date +%s) - start))s"
