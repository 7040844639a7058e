#!/usr/bin/env bash
# Install mllmshift with everything its tests and demo need, on a fresh machine.
# Uses the Python on PATH (python3); torch is pinned to the local CPU build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1

# System packages: Chromium for the report screenshot test, and the WordNet 3.0 database, against
# which the tests check the WordNet table that ships inside mllmshift (nothing else needs it).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=""
  [ -d /usr/share/wordnet ] || missing="$missing wordnet-base"
  command -v chromium >/dev/null || missing="$missing chromium"
  if [ -n "$missing" ]; then
    echo "setup: apt-get install$missing"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null) \
      || echo "setup: warning: could not install$missing; the tests that need them will skip"
  fi
fi

"$PY" -m pip install -q "torch==2.13.0"
"$PY" -m pip install -q -e ".[dev]"
# The imagecorruptions reference, only for the tests that compare with it: its pins are stale, so no deps
# (its import needs OpenCV, which the dev extra brings). The frost photographs ship inside mllmshift.
"$PY" -m pip install -q --no-deps "imagecorruptions==1.1.2"
"$PY" -c "import mllmshift, torch; print(f'setup: mllmshift {mllmshift.__version__}, torch {torch.__version__}')"
