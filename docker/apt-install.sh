#!/bin/sh
# apt-install.sh PACKAGE... - installs Debian packages inside an image build, from the build
# machine's apt sources when the APT_* build arguments carry them (docker/Dockerfile explains
# them), and leaves no trace: apt's lists, caches and logs, the host's sources and its apt.conf
# statements are gone afterwards and the image's own sources are back. Every image of this
# folder installs its packages through this one script.
set -eu
if [ -n "${APT_SOURCES:-}${APT_SOURCES_LIST:-}" ]; then
    mkdir /etc/apt/image-sources
    mv /etc/apt/sources.list.d /etc/apt/image-sources/
    if [ -f /etc/apt/sources.list ]; then mv /etc/apt/sources.list /etc/apt/image-sources/; fi
    mkdir /etc/apt/sources.list.d
    if [ -n "${APT_SOURCES:-}" ]; then
        printf '%s\n' "$APT_SOURCES" >/etc/apt/sources.list.d/build.sources
    fi
    if [ -n "${APT_SOURCES_LIST:-}" ]; then
        printf '%s\n' "$APT_SOURCES_LIST" >/etc/apt/sources.list.d/build.list
    fi
fi
printf '%s\n' "${APT_CONF:-}" >/etc/apt/apt.conf.d/99build
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt/* /var/log/dpkg.log \
    /etc/apt/apt.conf.d/99build
if [ -d /etc/apt/image-sources ]; then
    rm -rf /etc/apt/sources.list.d
    mv /etc/apt/image-sources/* /etc/apt/
    rmdir /etc/apt/image-sources
fi
