"""What both parity scripts share: the fixed images, running the runner's feature dump
(examples/backbone_features.rs), a reference's own thread-count noise, and the bound."""

import os
import subprocess

import numpy as np
import torch

TOLERANCE = 1e-4  # relative to max(1, max |reference|) of the layer
SEED = 7


def images(count, side, seed):
    """Smooth random images with pixel values 0 to 255, N x H x W x 3."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(count, side // 10 + 2, side // 10 + 2, 3))
    fine = np.repeat(np.repeat(coarse, 10, axis=1), 10, axis=2)[:, :side, :side]
    noise = rng.normal(0, 20, size=fine.shape)
    return np.clip(fine + noise, 0, 255).round().astype(np.float32)


def runner_features(binary, arch, weights, pixels, out, fold=False, logits=False):
    """Every layer's output (and the logits if asked) from the runner, by layer name."""
    np.ascontiguousarray(pixels).tofile(f"{out}.input")
    command = [binary, arch, weights, f"{out}.input", *map(str, pixels.shape[:3]), out]
    command += ["--fold"] * fold + ["--logits"] * logits
    listing = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    features = {}
    for line in listing.splitlines():
        name, *shape = line.split()
        values = np.fromfile(os.path.join(out, f"{name}.f32"), dtype="<f4")
        features[name] = values.reshape(pixels.shape[0], *map(int, shape))
    return features


def thread_noise(run, names=None):
    """How far a reference moves from itself between 1 and 2 threads, per output (all of
    them unless `names` says which)."""
    torch.set_num_threads(1)
    one = run()
    torch.set_num_threads(2)
    two = run()
    return {name: float(np.abs(one[name] - two[name]).max()) for name in names or one}
