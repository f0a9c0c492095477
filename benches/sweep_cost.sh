#!/usr/bin/env bash
# What a sweep costs against one trial, on the shared cats/dogs data with the release
# binary, each case in a fresh store (nothing cached):
#   1. one trial of experiments/dropout_sweep.toml (dropout 0.2) alone
#   2. the whole dropout sweep (5 rates): frozen features computed once, shared
#   3. experiments/dropout_sweep_augmented.toml (no training-feature cache) with --jobs 1
#   4. the same with --jobs 2
# Usage: benches/sweep_cost.sh [1|2|3|4 ...]   (default: all four)
# Prints one line per case: wall seconds, and runs recorded.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runner="${CARGO_TARGET_DIR:-target}/release/runner"
if [ ! -x "$runner" ]; then
    echo "no release binary at $runner: run scripts/setup.sh and cargo build --release first" >&2
    exit 2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# One trial of the dropout sweep (rate 0.2) as a sweep of one, its base made absolute.
sed -e 's/^"head.2.rate" = .*/"head.2.rate" = [0.2]/' \
    -e "s|^base = \"../|base = \"$PWD/|" experiments/dropout_sweep.toml > "$work/one_trial.toml"

measure() {
    local name="$1"
    shift
    local store="$work/$name"
    local started ended
    started=$(date +%s.%N)
    if ! RUNNER_STORE="$store" "$runner" "$@" --quiet > "$work/$name.out" 2> "$work/$name.log"; then
        echo "$name failed:" >&2
        tail -n 20 "$work/$name.log" >&2
        exit 1
    fi
    ended=$(date +%s.%N)
    printf '%-34s %8.1f s  %s runs\n' "$name" "$(echo "$ended - $started" | bc)" \
        "$(RUNNER_STORE="$store" "$runner" list --format json | grep -c '"run"')"
}

cases=("${@:-1 2 3 4}")
for case in ${cases[@]}; do
    case "$case" in
        1) measure one_trial run "$work/one_trial.toml" ;;
        2) measure dropout_sweep_5 run experiments/dropout_sweep.toml ;;
        3) measure augmented_sweep_5_jobs_1 run experiments/dropout_sweep_augmented.toml --jobs 1 ;;
        4) measure augmented_sweep_5_jobs_2 run experiments/dropout_sweep_augmented.toml --jobs 2 ;;
        *) echo "unknown case $case" >&2; exit 2 ;;
    esac
done
