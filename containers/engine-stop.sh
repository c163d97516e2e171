#!/usr/bin/env bash
# Stop the dockerd that containers/engine.sh started (its pid file), and only that one: an engine that was
# already running before `nox -s containers` is left alone. Images stay (the next run's builds reuse them).
set -euo pipefail
PIDFILE=/run/ecombench-dockerd.pid
[ -f "$PIDFILE" ] || exit 0
pid=$(cat "$PIDFILE")
if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
    kill "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    echo "stopped the dockerd this session started (pid $pid)"
fi
rm -f "$PIDFILE"
