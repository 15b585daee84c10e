#!/usr/bin/env bash
# The demo on a fresh machine: install, start the stack, train and register a
# model (on a labelled data set from the simulator), start a worker, replay
# sample logs (the Loghub OpenStack sample when ../shared is there, and a
# simulated cloud with two injected faults), then print the newest RCA results,
# the incidents with their top root cause, and the simulator's ground truth.
# Each step is one line with its result; details go to files under $demo.
# The stack stays up afterwards (`.venv/bin/rca stack down` stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
step() { printf '%-52s ' "$1"; }                 # the step, then its result on the same line
ok() { echo "${1:-ok} ($((SECONDS - t0)) s)"; }
fail() { echo "FAILED: $1" >&2; exit 1; }

t0=$SECONDS; step "installing into .venv"
scripts/install.sh || fail "scripts/install.sh"
ok
export PATH="$PWD/.venv/bin:$PATH"
demo=$(mktemp -d)
rca() { command rca --log-level WARNING "$@"; }

t0=$SECONDS; step "starting Kafka, s3proxy, MLflow on 127.0.0.1"
rca stack up >"$demo/stack.log" 2>&1 || { cat "$demo/stack.log"; fail "rca stack up"; }
# shellcheck disable=SC1091
source .state/stack.env
ok "up"

tag=$(date +%Y%m%d%H%M%S)
metrics_port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export RCA_TOPIC_LOGS=demo.logs.$tag RCA_TOPIC_RESULTS=demo.results.$tag RCA_TOPIC_DLQ=demo.dlq.$tag
export RCA_TOPIC_INCIDENTS=demo.incidents.$tag RCA_TOPIC_CORRELATION=demo.correlation.$tag
export RCA_WORKER_APP_ID=rca-demo-$tag RCA_WORKER_IDLE_TIMEOUT_SECONDS=3 RCA_WORKER_METRICS_PORT=$metrics_port
export RCA_MLFLOW_REGISTERED_MODEL_NAME=openstack-rca-demo-$tag RCA_MLFLOW_EXPERIMENT_NAME=openstack_rca_demo

t0=$SECONDS; step "simulating a labelled training set (10 tests)"
rca simulate --out "$demo/train" --tests 10 --hosts 3 --minutes 10 --seed 7 >"$demo/simulate-train.log"
ok "$demo/train"

t0=$SECONDS; step "training a model (tracked in MLflow)"
rca train --logs "$demo/train" --labels "$demo/train/labels.tsv" --epochs 2 >"$demo/train.log" 2>&1 \
  || { tail -20 "$demo/train.log"; fail "rca train"; }
ok "$(grep -o 'registered version.*' "$demo/train.log" || tail -1 "$demo/train.log")"

t0=$SECONDS; step "starting a worker"
command rca --log-level INFO worker >"$demo/worker.log" 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null || true; wait $worker 2>/dev/null || true' EXIT
ok "pid $worker, metrics http://127.0.0.1:$metrics_port/metrics, log $demo/worker.log"

sample=../shared/data/loghub-openstack-2k/OpenStack_2k.log
if [ -f "$sample" ]; then
  t0=$SECONDS; step "publishing the Loghub OpenStack sample"
  ok "$(rca publish --no-progress "$sample" | tail -1)"
fi

t0=$SECONDS; step "simulating a cloud with 2 injected faults"
rca simulate --out "$demo/live" --hosts 3 --minutes 15 --seed 42 \
    --faults vif_plugging_timeout,volume_attach_failure >"$demo/simulate-live.log"
ok "$(head -1 "$demo/simulate-live.log" | sed 's/ to .*//')"

t0=$SECONDS; step "publishing its service logs"
ok "$(rca publish --no-progress "$demo"/live/*/ | tail -1)"   # the service logs, not ground_truth.*

t0=$SECONDS; step "waiting for the worker to close every window"
count() { { rca results --json --all "$@" 2>/dev/null || true; } | wc -l; }   # 0 until the topic exists
open_windows() {   # from the worker's /metrics: windows still open (-1 while it does not answer)
  .venv/bin/python - "http://127.0.0.1:$metrics_port/metrics" <<'PY'
import sys, urllib.request
try:
    text = urllib.request.urlopen(sys.argv[1], timeout=2).read().decode()
    print(int(float(next(l.split()[1] for l in text.splitlines() if l.startswith("rca_windows_open ")))))
except Exception:
    print(-1)
PY
}
last=-1 stable=0
for _ in $(seq 1 150); do
  kill -0 $worker 2>/dev/null || { echo; tail -30 "$demo/worker.log"; fail "the worker stopped"; }
  now=$(count)
  if [ "$now" -gt 0 ] && [ "$now" = "$last" ] && [ "$(open_windows)" = 0 ]; then
    stable=$((stable + 1)); [ $stable -ge 2 ] && break   # every window closed and published
  else
    stable=0
  fi
  last=$now; sleep 2
done
incident_windows=$(count --incidents)
ok "$now windows, $incident_windows of them incident windows"

echo
echo "== the incident windows (rca results --incidents; rca results shows every window)"
rca results --incidents -n 10
echo
echo "== incidents (rca incidents)"
rca incidents --all 2>/dev/null || echo "(no $RCA_TOPIC_INCIDENTS topic: this worker does not publish incidents)"
echo
echo "== blast radius of each incident (the entities its logs name, by kind; engine/topology.py)"
{ rca incidents --all --json 2>/dev/null || true; } | .venv/bin/python -m engine.topology
echo
echo "== ground truth of the simulated faults ($demo/live/ground_truth.tsv)"
awk -F'\t' '{printf "%-5s %-24s %-24s %-24s %s\n", $1, $2, substr($9, 1, 23), $5, $6}' "$demo/live/ground_truth.tsv"
echo
echo "done in $((SECONDS - started)) s; see them live: rca ui (http://127.0.0.1:8765/, RCA_TOPIC_INCIDENTS=$RCA_TOPIC_INCIDENTS)"
