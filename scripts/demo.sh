#!/usr/bin/env bash
# The demo on a fresh machine: install, start the stack, train and register a
# model (on a labelled data set from the simulator), start a worker, replay
# sample logs (the Loghub OpenStack sample when ../shared is there, and a
# simulated cloud with injected faults), then print the RCA results.
# The stack stays up afterwards (`.venv/bin/rca stack down` stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export PATH="$PWD/.venv/bin:$PATH"
rca --log-level WARNING stack up
# shellcheck disable=SC1091
source .state/stack.env
demo=$(mktemp -d)
tag=$(date +%Y%m%d%H%M%S)
export RCA_TOPIC_LOGS=demo.logs.$tag RCA_TOPIC_RESULTS=demo.results.$tag RCA_TOPIC_DLQ=demo.dlq.$tag
export RCA_WORKER_APP_ID=rca-demo-$tag RCA_WORKER_IDLE_TIMEOUT_SECONDS=3
export RCA_MLFLOW_REGISTERED_MODEL_NAME=openstack-rca-demo-$tag RCA_MLFLOW_EXPERIMENT_NAME=openstack_rca_demo

echo "== training a model on a simulated, labelled data set (tracked in MLflow, registered as production)"
rca --log-level WARNING simulate --out "$demo/train" --tests 10 --hosts 3 --minutes 10 --seed 7 >/dev/null
rca --log-level WARNING train --logs "$demo/train" --labels "$demo/train/labels.tsv" --epochs 2

echo "== starting a worker (log: $demo/worker.log)"
rca --log-level INFO worker >"$demo/worker.log" 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null || true; wait $worker 2>/dev/null || true' EXIT

echo "== publishing logs to $RCA_TOPIC_LOGS"
sample=../shared/data/loghub-openstack-2k/OpenStack_2k.log
if [ -f "$sample" ]; then rca --log-level WARNING publish --no-progress "$sample"; fi
rca --log-level WARNING simulate --out "$demo/live" --hosts 3 --minutes 15 --seed 42 \
    --faults vif_plugging_timeout,volume_attach_failure >/dev/null
rca --log-level WARNING publish --no-progress "$demo"/live/*/   # the service logs, not ground_truth.*

echo "== waiting for results"
for _ in $(seq 1 180); do
  [ "$(rca --log-level ERROR results --json 2>/dev/null | wc -l)" -gt 0 ] && break
  kill -0 $worker 2>/dev/null || { tail -50 "$demo/worker.log"; exit 1; }
  sleep 1
done
sleep_until_quiet() {  # results stop growing once the worker has closed every window
  local last=-1 now
  for _ in $(seq 1 60); do
    now=$(rca --log-level ERROR results --json 2>/dev/null | wc -l)
    [ "$now" = "$last" ] && return 0
    last=$now; sleep 2
  done
}
sleep_until_quiet
rca --log-level WARNING results | tail -25
echo "== incidents with their top root cause"
rca --log-level WARNING results --incidents
echo "== ground truth of the simulated faults: $demo/live/ground_truth.tsv"
cut -f1-9 "$demo/live/ground_truth.tsv"
