#!/usr/bin/env bash
# Issue #19's wall-time case: the augmented sweep as a plain grid and under successive
# halving, each in a fresh store (both decode the images and compute the validation
# features once), back to back. Prints each one's wall time and best val_accuracy.
# Run from the repository root after `cargo build --release`.
set -euo pipefail
runner=${RUNNER:-${CARGO_TARGET_DIR:-target}/release/runner}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for name in augmented_grid augmented_asha; do
  store=$work/$name
  start=$(date +%s.%N)
  RUNNER_STORE=$store "$runner" run "bench/search/$name.toml" -q >"$work/$name.out" 2>"$work/$name.err"
  end=$(date +%s.%N)
  best=$(RUNNER_STORE=$store "$runner" list --format json | python3 -c '
import json, sys
runs = json.load(sys.stdin)
print(max(r["best"]["val_accuracy"] for r in runs), sum(r["epochs"] for r in runs),
      sum(r["status"] == "pruned" for r in runs))')
  read -r accuracy epochs pruned <<<"$best"
  printf '%-16s wall %6.1f s  epochs trained %2d  pruned %d  best val_accuracy %s\n' \
    "$name" "$(echo "$end - $start" | bc)" "$epochs" "$pruned" "$accuracy"
done
