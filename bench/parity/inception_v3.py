"""InceptionV3 in the runner against Keras and torchvision on the same weights and images.

Builds Keras' InceptionV3 and torchvision's inception_v3 with seeded random weights whose
BatchNorm statistics are calibrated on a batch (so activations keep a realistic scale through
all 94 layers), saves them as a Keras .h5 (with and without the classifier) and a .pth, runs
fixed images through each reference and through the runner (examples/backbone_features.rs),
and prints the max abs difference per block.

Fails when the max abs difference at mixed7, mixed10 or the logits exceeds TOLERANCE times
the block's largest value (at least 1): activations grow to about 40 by mixed10 and float32
rounding through 94 convolutions grows with them, so a fixed absolute bound cannot hold. For
scale, each reference is also run against itself with 1 and 2 threads (the "noise" lines):
its own float32 rounding moves mixed10 by about 1e-4. A real mistake (a transposed kernel,
the wrong padding or pooling) moves values by their own size.

Also writes crates/runner-core/tests/fixtures/inception_v3_keras_layers.tsv: every Keras
layer name of a fresh session with the block that Keras' own graph puts it in.

    KERAS_BACKEND=torch python bench/parity/inception_v3.py WORKDIR RUNNER_FEATURES_BINARY
"""

import os
import shutil
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

from common import SEED, TOLERANCE, images, runner_features, thread_noise  # noqa: E402

SIDE = 150
BLOCKS = [
    "activation", "activation_1", "activation_2", "max_pooling2d", "activation_3",
    "activation_4", "max_pooling2d_1",
] + [f"mixed{index}" for index in range(11)]
TORCHVISION_BLOCKS = [
    "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
    "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b",
    "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c",
]


def keras_layer_blocks(model):
    """Each layer's block: the first block output whose graph contains the layer."""
    def ancestors(layer, seen):
        if layer.name in seen:
            return
        seen.add(layer.name)
        for node in layer._inbound_nodes:
            for tensor in node.input_tensors:
                ancestors(tensor._keras_history.operation, seen)

    blocks = {}
    for block in BLOCKS:
        seen = set()
        ancestors(model.get_layer(block), seen)
        for name in seen:
            blocks.setdefault(name, block)
    return blocks


def write_layer_fixture(model):
    """The fixture of Keras layer names and blocks, from a model built first in its session."""
    blocks = keras_layer_blocks(model)
    fixture = os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        "../../crates/runner-core/tests/fixtures/inception_v3_keras_layers.tsv",
    )
    os.makedirs(os.path.dirname(fixture), exist_ok=True)
    with open(fixture, "w") as out:
        out.write("# Keras layer\tblock (bench/parity/inception_v3.py writes this file)\n")
        for layer in model.layers:
            if layer.name in blocks and layer.name != "input_layer":
                out.write(f"{layer.name}\t{blocks[layer.name]}\n")


def calibrate_keras(model, batch):
    """BatchNorm statistics from one batch, and small random offsets."""
    rng = np.random.default_rng(SEED)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    model(batch, training=True)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            beta = layer.beta.numpy()
            layer.beta.assign(rng.normal(0, 0.2, size=beta.shape).astype(np.float32))


def save_keras_h5(model, path, drop=()):
    with h5py.File(path, "w") as file:
        legacy_h5_format.save_weights_to_hdf5_group(file, model)
        if drop:
            names = [name if isinstance(name, str) else name.decode() for name in file.attrs["layer_names"]]
            file.attrs["layer_names"] = [name.encode() for name in names if name not in drop]
            for name in drop:
                del file[name]


def compare(title, reference, ours, names):
    """Prints the max abs difference per block; returns (difference, bound) for mixed7,
    mixed10 and the logits."""
    print(f"\n{title}")
    print(f"  {'block':<16} {'shape':<16} {'max |ref|':>10} {'max abs diff':>13}")
    checked = {}
    for ref_name, our_name in names:
        ref, got = reference[ref_name], ours[our_name]
        assert ref.shape == got.shape, (ref_name, ref.shape, got.shape)
        difference, largest = float(np.abs(ref - got).max()), float(np.abs(ref).max())
        shape = "x".join(map(str, ref.shape[1:]))
        print(f"  {our_name:<16} {shape:<16} {largest:>10.3f} {difference:>13.3e}")
        if our_name in ("mixed7", "mixed10", "logits"):
            checked[our_name] = (difference, TOLERANCE * max(1.0, largest))
    return checked


def keras_parity(workdir, binary, pixels):
    keras.utils.set_random_seed(SEED)
    top = keras.applications.InceptionV3(weights=None, include_top=True, classifier_activation=None)
    write_layer_fixture(top)
    calibration = keras.applications.inception_v3.preprocess_input(images(4, 299, SEED + 1))
    calibrate_keras(top, calibration)
    full = os.path.join(workdir, "inception_v3_keras_full.h5")
    notop = os.path.join(workdir, "inception_v3_keras_notop.h5")
    save_keras_h5(top, full)
    save_keras_h5(top, notop, drop=("avg_pool", "predictions"))

    # Keras itself loads the notop file (by position) into a model at 150 px whose layer
    # names start at conv2d_94: saved again, it checks loading does not rely on the numbers.
    base = keras.applications.InceptionV3(weights=notop, include_top=False, input_shape=(SIDE, SIDE, 3))
    renamed = os.path.join(workdir, "inception_v3_keras_renamed.h5")
    save_keras_h5(base, renamed)
    # Both models list their layers in the same (topological) order.
    in_base = dict(zip((layer.name for layer in top.layers), (layer.name for layer in base.layers)))
    probe = keras.Model(base.input, [base.get_layer(in_base[name]).output for name in BLOCKS])
    keras_input = keras.applications.inception_v3.preprocess_input(pixels.copy())

    def run():
        outputs = probe(keras_input, training=False)
        return {
            name: np.transpose(keras.ops.convert_to_numpy(output), (0, 3, 1, 2))
            for name, output in zip(BLOCKS, outputs)
            if name in ("mixed7", "mixed10")
        }

    noise = thread_noise(run)
    outputs = probe(keras_input, training=False)
    reference = {
        name: np.transpose(keras.ops.convert_to_numpy(output), (0, 3, 1, 2))
        for name, output in zip(BLOCKS, outputs)
    }
    # The classifier on the 150 px features, as Keras' top applies it at 299 px.
    kernel, bias = top.get_layer("predictions").get_weights()
    reference["logits"] = reference["mixed10"].mean(axis=(2, 3)) @ kernel + bias
    names = [(name, name) for name in BLOCKS]
    results = {}
    for label, weights, fold, logits in [
        ("Keras notop .h5", notop, False, False),
        ("Keras notop .h5, BatchNorm folded", notop, True, False),
        ("Keras full .h5, its classifier too", full, False, True),
        ("Keras .h5 saved from a model named conv2d_94..", renamed, False, False),
    ]:
        out = os.path.join(workdir, f"runner_keras_{len(results)}")
        ours = runner_features(binary, "inception_v3", weights, pixels, out, fold, logits)
        results[label] = compare(f"runner vs {label}", reference, ours, names + [("logits", "logits")] * logits)
    return results, {"Keras": noise}


def torchvision_parity(workdir, binary, pixels):
    torch.manual_seed(SEED)
    model = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=True, transform_input=True)
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = 1.0
            torch.nn.init.normal_(module.weight, 1.0, 0.1)
            torch.nn.init.normal_(module.bias, 0.0, 0.2)
    normalize = torchvision.transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])

    def torch_input(batch):
        return normalize(torch.from_numpy(batch / 255.0).permute(0, 3, 1, 2).float())

    with torch.no_grad():
        model(torch_input(images(4, 299, SEED + 1)))
    model.eval()
    weights = os.path.join(workdir, "inception_v3_torchvision.pth")
    torch.save(model.state_dict(), weights)

    reference = {}
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda module, args, output, name=name: reference.__setitem__(name, output.numpy())
        )
        for name in TORCHVISION_BLOCKS
    ]
    def run():
        with torch.no_grad():
            logits = model(torch_input(pixels)).numpy()
        return {"mixed7": reference["Mixed_6e"], "mixed10": reference["Mixed_7c"], "logits": logits}

    noise = thread_noise(run)
    with torch.no_grad():
        reference["logits"] = model(torch_input(pixels)).numpy()
    for hook in hooks:
        hook.remove()
    names = list(zip(TORCHVISION_BLOCKS, BLOCKS))
    results = {}
    for label, fold, logits in [
        ("torchvision .pth, its classifier too", False, True),
        ("torchvision .pth, BatchNorm folded", True, False),
    ]:
        out = os.path.join(workdir, "runner_torchvision" + ("_fold" if fold else ""))
        ours = runner_features(binary, "inception_v3", weights, pixels, out, fold, logits)
        results[label] = compare(f"runner vs {label}", reference, ours, names + [("logits", "logits")] * logits)
    return results, {"torchvision": noise}


def main():
    workdir, binary = sys.argv[1], os.path.abspath(sys.argv[2])
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    torch.set_num_threads(2)
    pixels = images(2, SIDE, SEED)
    results, noise = keras_parity(workdir, binary, pixels)
    more_results, more_noise = torchvision_parity(workdir, binary, pixels)
    results.update(more_results)
    noise.update(more_noise)
    print(f"\nmax abs difference (fails above {TOLERANCE:.0e} x max(1, max |ref|)):")
    failed = False
    for label, checked in results.items():
        line = ", ".join(f"{name} {value:.2e} (bound {bound:.1e})" for name, (value, bound) in checked.items())
        bad = any(value > bound for value, bound in checked.values())
        failed |= bad
        print(f"  {'FAIL' if bad else 'ok  '} {label}: {line}")
    for reference, moved in noise.items():
        line = ", ".join(f"{name} {value:.2e}" for name, value in moved.items())
        print(f"  noise {reference} against itself, 1 vs 2 threads: {line}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
