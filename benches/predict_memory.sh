#!/usr/bin/env bash
# `runner predict` over many photos: peak memory and images/s, release binary.
#   1. trains the main job (pipelines/cats_dogs.toml) into a fresh store,
#   2. predicts N images (default 10000: the 2000 validation photos linked N/2000 times
#      under distinct names) with the run's model, output to a file,
#   3. prints the peak RSS (GNU time) and the throughput.
# Usage: benches/predict_memory.sh [N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runner="${CARGO_TARGET_DIR:-target}/release/runner"
if [ ! -x "$runner" ]; then
    echo "no release binary at $runner: run scripts/setup.sh and cargo build --release first" >&2
    exit 2
fi
if [ ! -x /usr/bin/time ]; then
    echo "GNU time is missing: apt-get install time" >&2
    exit 2
fi
images=${1:-10000}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export RUNNER_STORE="$work/store"

"$runner" run pipelines/cats_dogs.toml --quiet > "$work/run.out" 2> "$work/run.log"
run=$(awk '/^run /{print $2; exit}' "$work/run.out")

validation=data/cats_and_dogs/validation
mkdir -p "$work/photos"
made=0
copy=0
while [ "$made" -lt "$images" ]; do
    for photo in "$validation"/*/*.jpg; do
        [ "$made" -lt "$images" ] || break
        ln -s "$PWD/$photo" "$work/photos/$copy-$(basename "$(dirname "$photo")")-$(basename "$photo")"
        made=$((made + 1))
    done
    copy=$((copy + 1))
done

started=$(date +%s.%N)
/usr/bin/time -v "$runner" predict "$run" "$work/photos" --format csv --quiet \
    > "$work/predictions.csv" 2> "$work/time.log"
ended=$(date +%s.%N)
rows=$(($(wc -l < "$work/predictions.csv") - 1))
peak_kb=$(awk -F: '/Maximum resident set size/{gsub(/ /, "", $2); print $2}' "$work/time.log")
seconds=$(echo "$ended - $started" | bc)
printf 'predicted %d images in %.1f s: %.1f images/s, peak RSS %.0f MB\n' \
    "$rows" "$seconds" "$(echo "$rows / $seconds" | bc -l)" "$(echo "$peak_kb / 1024" | bc -l)"
