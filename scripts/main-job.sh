#!/usr/bin/env bash
# The main job from a fresh clone: provision, build the release binaries, train
# pipelines/cats_dogs.toml and record the run in ./runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/setup.sh "$@"
cargo build --release
"${CARGO_TARGET_DIR:-target}/release/runner" run pipelines/cats_dogs.toml
