"""Checks an ONNX file that `runner export --format onnx` wrote, with the onnx package and
ONNX Runtime's Python library: the checker with full shape inference, opset 17 or later,
BatchNorm folded, and a dynamic batch (an image gives the same probabilities alone and
among others). Prints what it found as JSON.

Usage: python check_onnx.py MODEL.onnx
"""

import json
import sys

import numpy as np
import onnx
import onnxruntime


def main(path):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    opset = max(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))
    assert opset >= 17, f"opset {opset}"
    ops = sorted({node.op_type for node in model.graph.node})
    assert "BatchNormalization" not in ops, ops
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    classes = json.loads(metadata["classes"])
    height, width = json.loads(metadata["image_size"])

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    images = np.random.default_rng(0).uniform(0, 255, (3, 3, height, width)).astype(np.float32)
    alone = session.run(["probabilities"], {"images": images[:1]})[0]
    logits, together = session.run(["logits", "probabilities"], {"images": images})
    assert together.shape == (3, len(classes)), together.shape
    assert np.allclose(together.sum(axis=1), 1.0, atol=1e-5), together
    batch_difference = float(np.abs(alone[0] - together[0]).max())
    assert batch_difference < 1e-5, batch_difference
    print(json.dumps({
        "opset": opset,
        "ops": ops,
        "classes": classes,
        "logits_width": int(logits.shape[1]),
        "batch_difference": batch_difference,
        "onnxruntime": onnxruntime.__version__,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
