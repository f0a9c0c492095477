"""Reference training throughput in PyTorch eager: the course's InceptionV3 transfer model.

What it measures
----------------
Images per second of one training step (forward + loss + backward + optimizer step, with the
gradients zeroed before each step) on the CPU, for the model of the Coursera/TensorFlow
"cats vs dogs with InceptionV3" transfer-learning course, written the way a PyTorch user
would:

    torch.manual_seed(0)
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=True)
    backbone = nn.Sequential(net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3,
                             net.maxpool1, net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, net.maxpool2,
                             net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a,
                             net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e)
    # = Keras' InceptionV3(include_top=False) cut at 'mixed7': (N, 768, 7, 7) at 150x150
    head = nn.Sequential(nn.Flatten(), nn.Linear(768 * 7 * 7, 1024), nn.ReLU(),
                         nn.Dropout(0.2), nn.Linear(1024, 1))
    loss = nn.BCEWithLogitsLoss()
    opt = torch.optim.RMSprop([p for p in model.parameters() if p.requires_grad],
                              lr=1e-4, alpha=0.9, eps=1e-7)      # Keras' RMSprop(1e-4)

The inputs are one random float32 batch (N, 3, 150, 150) and random 0/1 labels (N, 1), made
once before timing and used for every step (data loading is measured elsewhere:
bench/reference_loaders.py). The model and the data come from torch.manual_seed(0).

The numbers ("cases" in the JSON, images/s; higher is better):

  frozen                 Keras' `base_model.trainable = False`: the whole backbone in eval mode
                         (BatchNorm uses its running statistics) with requires_grad=False on
                         all its parameters; the head in train mode (dropout on). The step is
                         the plain `head(backbone(x))`: autograd records nothing in the
                         backbone because nothing there requires grad, so only the head is
                         differentiated and updated.
  frozen_inference_mode  The same, with the backbone forward inside torch.inference_mode()
                         (the best a careful PyTorch user can do). Its output is .clone()d
                         outside inference mode before the head, because autograd refuses to
                         save an inference tensor for backward (the Linear layer saves its
                         input); the copy is 32x768x7x7 floats, 4.8 MB, per step.
  top_unfrozen           Fine-tuning: Mixed_6d and Mixed_6e (Keras' mixed6 and mixed7)
                         trainable and in train mode (BatchNorm with batch statistics, running
                         statistics updated), everything before them frozen in eval mode, plus
                         the head. Backward goes through the head, Mixed_6e and Mixed_6d.

Each case: a fresh model (same seed), 3 warm-up steps (not timed), then 3 timed runs; a run
takes steps until it has 10, or until 20 s have passed and it has at least 5. A run's figure
is steps * batch / seconds (monotonic clock around the steps); the case's figure is the median
of its 3 runs. Every run is in details.CASE.runs with /proc/loadavg read just before it and
"other_processes_cpu_s": CPU seconds that processes other than this one used while it ran
(busy time in /proc/stat minus this process's own, "own_cpu_s"). On the 2-core machine this
was written for, other work (builds) slows the figures down roughly in proportion to that
number: compare it with threads * seconds of the run. The script does not wait for a quiet
machine; re-run it if the runs disagree or other_processes_cpu_s is large.

How to run
----------
The Python environment (torch 2.9.0, torchvision 0.24.0, ...) is made by
bench/setup_reference_env.sh:

    bash bench/setup_reference_env.sh
    nice -n 5 "${RUNNER_HOME:-$HOME/.cache/runner}/bench-venv/bin/python" \\
        bench/train_reference.py                      # batch 32, 2 threads, all cases

Options: --batch B (32), --threads N (2: torch.set_num_threads(N); interop threads are 1),
--cases frozen frozen_inference_mode top_unfrozen (all by default), --warmup, --min-steps,
--max-seconds, --min-steps-floor, --repeats. It prints one JSON object on stdout:

    {"torch": ..., "torchvision": ..., "threads": N, "batch": B,
     "cases": {"frozen": ips, "frozen_inference_mode": ips, "top_unfrozen": ips},
     "loadavg": {"start": "...", "CASE": ["before run 1", ...]}, "details": {...}}

and progress on stderr.

Differences from the Keras model that remain (they do not change the amount of work much):
  - torchvision's InceptionV3 convolutions have no bias, like Keras'; its BatchNorm has
    eps=0.001 like Keras' but learns a scale (Keras' InceptionV3 uses scale=False), so the
    frozen BatchNorms here have a weight as well.
  - PyTorch's RMSprop adds eps outside the square root (g / (sqrt(v) + eps)), Keras 3 inside
    (g / sqrt(v + eps)).
  - Layout: `--layout channels_last` (the default, what a careful user runs on the CPU: the
    backbone's weights and the input batch in torch.channels_last) or `--layout nchw`
    (torch's default).
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torchvision
from torch import nn

CASES = ("frozen", "frozen_inference_mode", "top_unfrozen")
BACKBONE_ORDER = (
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
    "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
    "Mixed_6c", "Mixed_6d", "Mixed_6e",
)
UNFROZEN_BLOCKS = ("Mixed_6d", "Mixed_6e")  # Keras' mixed6 and mixed7
IMAGE_SIZE = 150
FEATURES = (768, 7, 7)

CLK_TCK = os.sysconf("SC_CLK_TCK")


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().strip()


def machine_busy_s():
    """CPU seconds all processes have run (user, nice, system, irq, softirq), from /proc/stat."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq = (
            int(v) for v in f.readline().split()[1:8]
        )
    return (user + nice + system + irq + softirq) / CLK_TCK


def own_cpu_s():
    t = os.times()
    return t.user + t.system


def log(msg):
    print(f"train_reference: {msg}", file=sys.stderr, flush=True)


def build_model(case):
    torch.manual_seed(0)
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=True)
    backbone = nn.Sequential(*(getattr(net, name) for name in BACKBONE_ORDER))
    head = nn.Sequential(
        nn.Flatten(),
        nn.Linear(FEATURES[0] * FEATURES[1] * FEATURES[2], 1024),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(1024, 1),
    )

    # Keras' trainable = False: eval mode (running BatchNorm statistics) and no gradients.
    backbone.eval()
    backbone.requires_grad_(False)
    if case == "top_unfrozen":
        for name in UNFROZEN_BLOCKS:
            block = getattr(net, name)
            block.train()
            block.requires_grad_(True)
    head.train()
    return backbone, head


def check_shape(backbone):
    with torch.inference_mode():
        out = backbone(torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE))
    if tuple(out.shape[1:]) != FEATURES:
        raise SystemExit(f"backbone output {tuple(out.shape)}, expected (N, {FEATURES})")


def make_step(case, backbone, head, x, y):
    params = [p for m in (backbone, head) for p in m.parameters() if p.requires_grad]
    opt = torch.optim.RMSprop(params, lr=1e-4, alpha=0.9, eps=1e-7)
    loss_fn = nn.BCEWithLogitsLoss()

    if case == "frozen_inference_mode":
        def forward():
            with torch.inference_mode():
                features = backbone(x)
            return head(features.clone())
    else:
        def forward():
            return head(backbone(x))

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(forward(), y)
        loss.backward()
        opt.step()
        return loss

    n_trainable = sum(p.numel() for p in params)
    return step, n_trainable


def timed_run(step, batch, args):
    la = loadavg()
    busy0, own0 = machine_busy_s(), own_cpu_s()
    t0 = time.perf_counter()
    steps = 0
    while True:
        step()
        steps += 1
        elapsed = time.perf_counter() - t0
        if steps >= args.min_steps or (
            elapsed >= args.max_seconds and steps >= args.min_steps_floor
        ):
            break
    own = own_cpu_s() - own0
    other = (machine_busy_s() - busy0) - own
    return {
        "images_per_second": round(steps * batch / elapsed, 3),
        "steps": steps,
        "seconds": round(elapsed, 3),
        "own_cpu_s": round(own, 2),
        "other_processes_cpu_s": round(max(other, 0.0), 2),
        "loadavg_before": la,
    }


def run_case(case, args):
    t_case = time.perf_counter()
    backbone, head = build_model(case)
    check_shape(backbone)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=g)
    y = torch.randint(0, 2, (args.batch, 1), generator=g).float()
    if args.layout == "channels_last":
        backbone = backbone.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    step, n_trainable = make_step(case, backbone, head, x, y)

    t_warm = time.perf_counter()
    for _ in range(args.warmup):
        loss = step()
    if not torch.isfinite(loss):
        raise SystemExit(f"{case}: loss is not finite after warm-up: {loss.item()}")
    warmup_s = time.perf_counter() - t_warm

    runs = []
    for i in range(args.repeats):
        r = timed_run(step, args.batch, args)
        runs.append(r)
        log(f"{case} run {i + 1}/{args.repeats}: {r['images_per_second']} images/s "
            f"({r['steps']} steps, {r['seconds']} s, other processes "
            f"{r['other_processes_cpu_s']} CPU s, loadavg before {r['loadavg_before']})")
    ips = statistics.median(r["images_per_second"] for r in runs)
    detail = {
        "images_per_second": ips,
        "trainable_parameters": n_trainable,
        "warmup_steps": args.warmup,
        "warmup_seconds": round(warmup_s, 3),
        "case_seconds": round(time.perf_counter() - t_case, 3),
        "runs": runs,
    }
    return ips, detail


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    p.add_argument("--layout", choices=("channels_last", "nchw"), default="channels_last")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--min-steps", type=int, default=10,
                   help="a run stops after this many steps ...")
    p.add_argument("--max-seconds", type=float, default=20.0,
                   help="... or after this many seconds ...")
    p.add_argument("--min-steps-floor", type=int, default=5,
                   help="... but never before this many steps")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    result = {
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "layout": args.layout,
        "cases": {},
        "loadavg": {"start": loadavg()},
        "details": {},
    }
    log(f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"{torch.get_num_threads()} threads, batch {args.batch}, loadavg {loadavg()}")
    for case in args.cases:
        ips, detail = run_case(case, args)
        result["cases"][case] = ips
        result["loadavg"][case] = [r["loadavg_before"] for r in detail["runs"]]
        result["details"][case] = detail
        log(f"{case}: median {ips} images/s, case took {detail['case_seconds']} s")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
