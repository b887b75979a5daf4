#!/usr/bin/env bash
# The production build starts on the embedded default, answers ready, and stops cleanly on SIGTERM.
set -uo pipefail
dir=$(mktemp -d)
port=${SMOKE_PORT:-39123}
PORT=$port HOST=127.0.0.1 DATA_DIR="$dir" LOG_LEVEL=warn node dist/server.js > "$dir/server.log" 2>&1 &
pid=$!
ok=1
for _ in $(seq 1 240); do
  if curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null; then ok=0; break; fi
  sleep 0.5
done
[ $ok -eq 0 ] && curl -sf "http://127.0.0.1:$port/docs/json" >/dev/null || ok=1
kill -TERM $pid 2>/dev/null
for _ in $(seq 1 40); do kill -0 $pid 2>/dev/null || break; sleep 0.25; done
if kill -0 $pid 2>/dev/null; then echo "smoke: server did not exit within 10 s of SIGTERM"; kill -9 $pid; ok=1; fi
[ $ok -eq 0 ] && echo "smoke: production build started, answered ready and stopped" || { echo "smoke: failed"; cat "$dir/server.log"; }
rm -rf "$dir"
exit $ok
