#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the offline demo study into ./demo-out (or the folder given).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec mllmshift demo --out "${1:-demo-out}"
