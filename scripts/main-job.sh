#!/usr/bin/env bash
# The main job from a fresh clone: provision, build the release binaries, train
# pipelines/cats_dogs.toml and record the run in ./runs, export the trained model as ONNX
# and check it in ONNX Runtime on the validation images, then find its highest-loss
# validation images (recorded with the run for `runner ui`'s run page).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh "$@"
cargo build --release
runner="${CARGO_TARGET_DIR:-target}/release/runner"
"$runner" run pipelines/cats_dogs.toml
mkdir -p exports
"$runner" export last --format onnx --out exports/cats_dogs.onnx --check
"$runner" inspect last --out exports/inspect --quiet
echo "see the run in a browser: $runner ui --open"
