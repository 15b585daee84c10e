#!/usr/bin/env bash
# The demo on a fresh machine: install, start the stack, start a worker,
# replay sample logs, print the RCA results. The stack stays up afterwards
# (`.venv/bin/rca stack down` stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
rca --log-level WARNING stack up
# shellcheck disable=SC1091
source .state/stack.env
demo=$(mktemp -d)
sample=../shared/data/loghub-openstack-2k/OpenStack_2k.log
if [ -f "$sample" ]; then
  input=$sample
else
  rca simulate --out "$demo/sim" --hosts 4 --minutes 20 --seed 1 >/dev/null
  input=$demo/sim
fi
export RCA_TOPIC_LOGS=demo.logs.$$ RCA_TOPIC_RESULTS=demo.results.$$ RCA_TOPIC_DLQ=demo.dlq.$$
export RCA_WORKER_APP_ID=rca-demo-$$ RCA_WORKER_IDLE_TIMEOUT_SECONDS=3
rca --log-level WARNING worker >"$demo/worker.log" 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null || true; wait $worker 2>/dev/null || true' EXIT
rca --log-level WARNING publish --no-progress "$input"
echo "waiting for results (worker log: $demo/worker.log)..."
for _ in $(seq 1 120); do
  n=$(rca --log-level ERROR results --json | wc -l)
  [ "$n" -gt 0 ] && break
  kill -0 $worker 2>/dev/null || { cat "$demo/worker.log"; exit 1; }
  sleep 1
done
rca --log-level WARNING results
