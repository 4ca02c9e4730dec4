#!/usr/bin/env bash
# Create or update the benchmark's virtual environment, .venv-bench, from
# requirements/bench.txt, with the same Python selection as the controller's .venv.
#
#   bench/setup.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/scripts/bootstrap-venv.sh" "$root/requirements/bench.txt" "$root/.venv-bench"
