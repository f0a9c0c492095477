#!/usr/bin/env bash
# The runner against what a careful user of PyTorch and ONNX Runtime runs, back to back in
# one sitting, as one table of ratios:
#
#   EfficientNet-Lite0 frozen features at 224x224 (the main job's hot path):
#     benches/feature_throughput.rs  vs  bench/feature_reference.py (PyTorch channels_last +
#     inference_mode; ONNX Runtime, all graph optimizations)
#   The same in bfloat16 (runner `precision = "bf16"`) against ONNX Runtime in float32 and
#   PyTorch under `torch.autocast("cpu", torch.bfloat16)`, where the CPU has AVX-512 BF16 or
#   AMX.
#   The course model (InceptionV3 to mixed7 at 150x150, Dense(1024) head, RMSprop), one
#   training step, backbone frozen and with mixed6/mixed7 trainable:
#     benches/train_throughput.rs    vs  bench/train_reference.py --layout channels_last
#
# Both sides: batch 32, 2 threads (BATCH and THREADS override), random input in memory, and
# the glibc allocator settings the runner makes at start-up (src/allocator.rs), which a Python
# process takes from the environment. Run it on an otherwise idle machine. The sides take
# turns, ROUNDS times (default 3): a machine whose speed drifts within the hour (these do,
# by 10-15%) then slows both sides alike, and the table gives each round's ratio and their
# median.
#
#   bench/compare.sh [OUTDIR]      (default: a new temporary folder; the JSON of each side
#                                   per round and table.md are left there)
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

# bfloat16 rows where the CPU computes it (AVX-512 BF16 or AMX): emulated elsewhere, where
# both sides crawl and the comparison says nothing.
if grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo; then
  bf16=1
  feature_cases=(torch_channels_last torch_nchw onnxruntime torch_channels_last_bf16)
else
  bf16=0
  feature_cases=(torch_channels_last torch_nchw onnxruntime)
fi

rounds=${ROUNDS:-3}
for round in $(seq 1 "$rounds"); do
  dir="$out/round$round"
  mkdir -p "$dir"
  log "round $round of $rounds: runner, frozen features ($(date -u +%H:%M:%S))"
  cargo bench --quiet --bench feature_throughput -- fp32 "$batch" "$threads" 2>/dev/null | tail -1 >"$dir/runner_features.json"
  if [ "$bf16" = 1 ]; then
    log "round $round: runner, frozen features in bf16 ($(date -u +%H:%M:%S))"
    cargo bench --quiet --bench feature_throughput -- bf16 "$batch" "$threads" 2>/dev/null | tail -1 >"$dir/runner_features_bf16.json"
  fi
  log "round $round: references, frozen features ($(date -u +%H:%M:%S))"
  "$python" bench/feature_reference.py --batch "$batch" --threads "$threads" --cases "${feature_cases[@]}" \
    2>"$dir/feature_reference.log" >"$dir/reference_features.json"
  log "round $round: runner, training steps ($(date -u +%H:%M:%S))"
  cargo bench --quiet --bench train_throughput -- "$batch" "$threads" 2>/dev/null | tail -1 >"$dir/runner_train.json"
  log "round $round: reference, training steps ($(date -u +%H:%M:%S))"
  "$python" bench/train_reference.py --batch "$batch" --threads "$threads" --layout channels_last \
    --cases frozen_inference_mode top_unfrozen 2>"$dir/train_reference.log" >"$dir/reference_train.json"
done
log "done ($(date -u +%H:%M:%S)); results in $out"

"$python" - "$out" "$rounds" <<'PY' | tee "$out/table.md"
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def load(round, name):
    return json.load(open(os.path.join(out, f"round{round}", name)))
def rows(round):
    runner_features, reference_features = load(round, "runner_features.json"), load(round, "reference_features.json")
    runner_train, reference_train = load(round, "runner_train.json"), load(round, "reference_train.json")
    ips = reference_features["images_per_second"]
    return [
        ("EfficientNet-Lite0 frozen features, 224x224", runner_features["images_per_second"],
         "PyTorch channels_last, inference_mode", ips["torch_channels_last"]),
        ("EfficientNet-Lite0 frozen features, 224x224", runner_features["images_per_second"],
         "ONNX Runtime, ORT_ENABLE_ALL", ips["onnxruntime"]),
        ("course model step, backbone frozen", runner_train["images_per_second"]["frozen"],
         "PyTorch channels_last, backbone in inference_mode", reference_train["cases"]["frozen_inference_mode"]),
        ("course model step, mixed6+mixed7 trainable", runner_train["images_per_second"]["top_unfrozen"],
         "PyTorch channels_last", reference_train["cases"]["top_unfrozen"]),
    ] + bf16_rows(round, ips)
def bf16_rows(round, ips):
    if not os.path.exists(os.path.join(out, f"round{round}", "runner_features_bf16.json")):
        return []
    runner = load(round, "runner_features_bf16.json")["images_per_second"]
    return [
        ("EfficientNet-Lite0 frozen features in bf16, 224x224", runner,
         "ONNX Runtime, ORT_ENABLE_ALL (fp32)", ips["onnxruntime"]),
        ("EfficientNet-Lite0 frozen features in bf16, 224x224", runner,
         "PyTorch channels_last, inference_mode, autocast bf16", ips["torch_channels_last_bf16"]),
    ]
per_round = [rows(round) for round in range(1, rounds + 1)]
first, reference_features = load(1, "runner_features.json"), load(1, "reference_features.json")
print(f"batch {first['batch']}, {first['threads']} threads, torch {reference_features['torch']}, "
      f"onnxruntime {reference_features.get('onnxruntime', '-')}; images/s, median of {rounds} "
      "rounds in which the sides took turns\n")
print("| what | runner | reference | reference images/s | runner / reference | each round |")
print("|---|---|---|---|---|---|")
for index, (what, _, reference_name, _) in enumerate(per_round[0]):
    runner = statistics.median(r[index][1] for r in per_round)
    reference = statistics.median(r[index][3] for r in per_round)
    ratios = [r[index][1] / r[index][3] for r in per_round]
    each = ", ".join(f"{ratio:.2f}" for ratio in ratios)
    print(f"| {what} | {runner:.1f} | {reference_name} | {reference:.1f} | "
          f"**{statistics.median(ratios):.2f}x** | {each} |")
PY
