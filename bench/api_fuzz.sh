#!/usr/bin/env bash
# The long API fuzz run (docs/security.md, "The API, fuzzed"): the same test CI runs
# (tests/test_api_fuzz.py), with a random seed, a time budget and more examples per operation.
# Prints the seed, cases per phase and failures per check. Usage: bench/api_fuzz.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" FUZZ_SEED="${FUZZ_SEED:-random}" FUZZ_MAX_TIME="${1:-300}" FUZZ_MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-300}"
export FUZZ_REPORT="${FUZZ_REPORT:-var/api_fuzz_failures.txt}"
mkdir -p "$(dirname "$FUZZ_REPORT")"
.venv/bin/python -m pytest -q -p no:cacheprovider tests/test_api_fuzz.py -s 2>&1 \
  | grep -E '^(schemathesis seed|cases=|failures=)|passed|failed'
