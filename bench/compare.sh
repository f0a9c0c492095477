#!/usr/bin/env bash
# The runner against what a careful user of PyTorch and ONNX Runtime runs, back to back in
# one sitting, as one table of ratios:
#
#   EfficientNet-Lite0 frozen features at 224x224 (the main job's hot path):
#     benches/feature_throughput.rs  vs  bench/feature_reference.py (PyTorch channels_last +
#     inference_mode; ONNX Runtime, all graph optimizations)
#   The course model (InceptionV3 to mixed7 at 150x150, Dense(1024) head, RMSprop), one
#   training step, backbone frozen and with mixed6/mixed7 trainable:
#     benches/train_throughput.rs    vs  bench/train_reference.py --layout channels_last
#
# Both sides: batch 32, 2 threads (BATCH and THREADS override), random input in memory, and
# the glibc allocator settings the runner makes at start-up (src/allocator.rs), which a Python
# process takes from the environment. Run it on an otherwise idle machine; each side prints
# its separate runs, so a disturbed run shows.
#
#   bench/compare.sh [OUTDIR]      (default: a new temporary folder; the JSON of each side
#                                   and table.md are left there)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
out=${1:-$(mktemp -d)}
mkdir -p "$out"
batch=${BATCH:-32}
threads=${THREADS:-2}
python=${PYTHON:-${RUNNER_HOME:-$HOME/.cache/runner}/bench-venv/bin/python}

log() { printf 'compare: %s\n' "$*" >&2; }

if [ -z "${PYTHON:-}" ]; then
  bash bench/setup_reference_env.sh
fi
log "building the runner's benchmarks"
cargo bench --no-run --bench feature_throughput --bench train_throughput 2>&1 | tail -1 >&2

# The same settings src/allocator.rs makes with mallopt, for the Python references.
export MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=2147483647 MALLOC_TOP_PAD_=1073741824

log "runner: frozen features ($(date -u +%H:%M:%S))"
cargo bench --quiet --bench feature_throughput -- "$batch" "$threads" 2>/dev/null | tail -1 >"$out/runner_features.json"
log "references: frozen features ($(date -u +%H:%M:%S))"
"$python" bench/feature_reference.py --batch "$batch" --threads "$threads" 2>"$out/feature_reference.log" >"$out/reference_features.json"
log "runner: training steps ($(date -u +%H:%M:%S))"
cargo bench --quiet --bench train_throughput -- "$batch" "$threads" 2>/dev/null | tail -1 >"$out/runner_train.json"
log "reference: training steps ($(date -u +%H:%M:%S))"
"$python" bench/train_reference.py --batch "$batch" --threads "$threads" --layout channels_last \
  --cases frozen_inference_mode top_unfrozen 2>"$out/train_reference.log" >"$out/reference_train.json"
log "done ($(date -u +%H:%M:%S)); results in $out"

"$python" - "$out" <<'PY' | tee "$out/table.md"
import json, sys, os
out = sys.argv[1]
load = lambda name: json.load(open(os.path.join(out, name)))
runner_features, reference_features = load("runner_features.json"), load("reference_features.json")
runner_train, reference_train = load("runner_train.json"), load("reference_train.json")
ips = reference_features["images_per_second"]
rows = [
    ("EfficientNet-Lite0 frozen features, 224x224", runner_features["images_per_second"],
     "PyTorch channels_last, inference_mode", ips["torch_channels_last"]),
    ("EfficientNet-Lite0 frozen features, 224x224", runner_features["images_per_second"],
     "ONNX Runtime, ORT_ENABLE_ALL", ips["onnxruntime"]),
    ("course model step, backbone frozen", runner_train["images_per_second"]["frozen"],
     "PyTorch channels_last, backbone in inference_mode", reference_train["cases"]["frozen_inference_mode"]),
    ("course model step, mixed6+mixed7 trainable", runner_train["images_per_second"]["top_unfrozen"],
     "PyTorch channels_last", reference_train["cases"]["top_unfrozen"]),
]
print(f"batch {runner_features['batch']}, {runner_features['threads']} threads, "
      f"torch {reference_features['torch']}, onnxruntime {reference_features.get('onnxruntime', '-')}; images/s\n")
print("| what | runner | reference | reference images/s | runner / reference |")
print("|---|---|---|---|---|")
for what, runner, reference_name, reference in rows:
    print(f"| {what} | {runner:.1f} | {reference_name} | {reference:.1f} | **{runner / reference:.2f}x** |")
print(f"\nrunner feature runs: {runner_features['runs']} (layout {runner_features['layout']}); "
      f"reference runs: {json.dumps(reference_features['runs'])}")
PY
