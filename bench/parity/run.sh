#!/usr/bin/env bash
# Checks the runner's InceptionV3 against Keras and torchvision (bench/parity/inception_v3.py):
# builds the feature-dump example, then runs the Python reference with it.
#   bench/parity/run.sh [WORKDIR]
# PYTHON names an interpreter with the packages of bench/parity/requirements.txt
# (default: ~/.cache/runner/bench-venv/bin/python).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=${PYTHON:-$HOME/.cache/runner/bench-venv/bin/python}
workdir=${1:-$(mktemp -d)}
if ! KERAS_BACKEND=torch "$python" -c 'import h5py, keras, torch, torchvision' 2>/dev/null; then
  echo "parity: $python lacks the reference packages; create a venv with" >&2
  echo "  python3 -m venv ~/.cache/runner/bench-venv && ~/.cache/runner/bench-venv/bin/pip install -r $repo/bench/parity/requirements.txt" >&2
  exit 2
fi
cd "$repo"
cargo build --quiet --example backbone_features
target=$(cargo metadata --format-version 1 --no-deps | "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
KERAS_BACKEND=torch "$python" bench/parity/inception_v3.py "$workdir" "$target/debug/examples/backbone_features"
