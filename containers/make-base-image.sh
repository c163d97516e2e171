#!/usr/bin/env bash
# Build the local base image for machines without a container registry: Debian bookworm (minbase) with
# Python 3.11, made by debootstrap from Debian's mirror and imported with `docker import`.
#
#   containers/make-base-image.sh [TAG]        default TAG: ecombench/debian-base:bookworm
#
# Prints the image id (sha256:...), which `ecombench containers build --base-image TAG` (or the Dockerfile's
# BASE_IMAGE build argument) takes in place of the published, digest-pinned debian image. Reuses an existing
# image with the same tag unless ECOMBENCH_REBUILD_BASE=1. Needs root, debootstrap and a running dockerd.
set -euo pipefail
tag="${1:-ecombench/debian-base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
packages="python3,python3-venv,ca-certificates"

if [[ "${ECOMBENCH_REBUILD_BASE:-0}" != 1 ]] && docker image inspect "$tag" >/dev/null 2>&1; then
    docker image inspect --format '{{.Id}}' "$tag"
    exit 0
fi
root="$(mktemp -d /tmp/ecombench-rootfs.XXXXXX)"
trap 'rm -rf "$root"' EXIT
# debootstrap keeps its downloaded .debs in a cache folder: a second build reads them from disk.
cache="${ECOMBENCH_DEBOOTSTRAP_CACHE:-/var/cache/ecombench-debootstrap}"
mkdir -p "$cache"
debootstrap --variant=minbase --include="$packages" --cache-dir="$cache" bookworm "$root" "$mirror" >&2
# A lean root file system: no apt lists, no docs, no caches in the image.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* "$root"/usr/share/man/*
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    "$mirror" "$mirror" > "$root/etc/apt/sources.list"
tar -C "$root" -c . | docker import \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
    --message "debootstrap --variant=minbase bookworm +$packages" - "$tag" >&2
docker image inspect --format '{{.Id}}' "$tag"
