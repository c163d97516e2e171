#!/usr/bin/env bash
# Make a Docker engine available on a Debian CI machine (root, no registry): install Debian's docker.io and
# debootstrap if missing, start dockerd if it is not answering. Idempotent; run by `nox -s containers`.
# A dockerd started here has its pid in $PIDFILE; containers/engine-stop.sh stops that one (and no other).
set -euo pipefail
PIDFILE=/run/ecombench-dockerd.pid
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
    echo "installing Debian packages: ${missing[*]} (they stay installed; see docs/containers.md)" >&2
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
if ! docker info >/dev/null 2>&1; then
    nohup dockerd >/var/log/ecombench-dockerd.log 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null || { tail -20 /var/log/ecombench-dockerd.log; exit 1; }
fi
docker version --format 'Docker engine {{.Server.Version}}'
