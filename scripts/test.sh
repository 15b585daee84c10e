#!/usr/bin/env bash
# The whole test suite: install, start the local stack, run pytest, stop the stack.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
# Tools only the tests use (shippers, infrastructure daemons): installed here, never by the demo;
# each script skips what it cannot install, and the tests that need it skip with a reason.
for extra in scripts/install-test-shippers.sh scripts/install-test-daemons.sh; do
  if [ -f "$extra" ]; then bash "$extra"; fi
done
export PATH="$PWD/.venv/bin:$PATH"
started=0
if ! rca --log-level WARNING stack status >/dev/null 2>&1; then started=1; fi
rca --log-level WARNING stack up
cleanup() { if [ "$started" = 1 ]; then rca --log-level WARNING stack down; fi; }
trap cleanup EXIT
# shellcheck disable=SC1091
source .state/stack.env
set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
  echo "test.sh: pytest collected no tests; failing on purpose" >&2
  rc=1
fi
exit "$rc"
