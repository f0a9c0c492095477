"""Reference outputs for the Rust `augment` module's fixture tests.

Re-implements, with numpy + scipy.ndimage + Pillow, what Keras 3's legacy
`ImageDataGenerator.apply_transform` (keras/src/legacy/preprocessing/image.py)
does to one channels_last float32 image: `apply_affine_transform` (rotation,
shift, shear, zoom composed in that order, centred with
`transform_matrix_offset_center`, the x/y swap `M' = PMP`, then
`scipy.ndimage.affine_transform(order=1, mode=fill_mode, cval=cval)` per
channel), then `apply_channel_shift`, horizontal flip, vertical flip and
`apply_brightness_shift(x, brightness, False)` (PIL ImageEnhance.Brightness).
Keras itself is not imported; the steps below follow its source line by line.

Setup: python3 -m venv /tmp/augref && /tmp/augref/bin/pip install numpy scipy pillow
Run:   /tmp/augref/bin/python keras_affine_reference.py
Prints Rust array literals (CHW, scale 1, offset 0) that are pasted into
augment.rs's tests; the printed header gives the library versions
(numpy 2.4.6, scipy 1.17.1, Pillow 13.0.0 for the numbers in augment.rs).
"""

import numpy as np
import PIL
import scipy
from PIL import Image, ImageEnhance
from scipy import ndimage

H, W = 7, 9


def fixture_image():
    # Distinct, non-linear values so that a wrong tap or weight shows up
    # (a linear ramp would survive some interpolation bugs).
    k = np.arange(H * W * 3)
    return ((37 * k) % 251).astype(np.uint8).reshape(H, W, 3)


def transform_matrix_offset_center(matrix, x, y):
    o_x = float(x) / 2 - 0.5
    o_y = float(y) / 2 - 0.5
    offset_matrix = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset_matrix = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return np.dot(np.dot(offset_matrix, matrix), reset_matrix)


def apply_affine_transform(x, theta=0, tx=0, ty=0, shear=0, zx=1, zy=1,
                           fill_mode="nearest", cval=0.0, order=1):
    # channels_last single image: row_axis=0, col_axis=1, channel_axis=2.
    row_axis, col_axis, channel_axis = 0, 1, 2
    transform_matrix = None
    if theta != 0:
        theta = np.deg2rad(theta)
        transform_matrix = np.array([[np.cos(theta), -np.sin(theta), 0],
                                     [np.sin(theta), np.cos(theta), 0],
                                     [0, 0, 1]])
    if tx != 0 or ty != 0:
        shift_matrix = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
        transform_matrix = shift_matrix if transform_matrix is None \
            else np.dot(transform_matrix, shift_matrix)
    if shear != 0:
        shear = np.deg2rad(shear)
        shear_matrix = np.array([[1, -np.sin(shear), 0],
                                 [0, np.cos(shear), 0],
                                 [0, 0, 1]])
        transform_matrix = shear_matrix if transform_matrix is None \
            else np.dot(transform_matrix, shear_matrix)
    if zx != 1 or zy != 1:
        zoom_matrix = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
        transform_matrix = zoom_matrix if transform_matrix is None \
            else np.dot(transform_matrix, zoom_matrix)
    if transform_matrix is not None:
        h, w = x.shape[row_axis], x.shape[col_axis]
        transform_matrix = transform_matrix_offset_center(transform_matrix, h, w)
        x = np.rollaxis(x, channel_axis, 0)
        if col_axis > row_axis:
            transform_matrix[:, [0, 1]] = transform_matrix[:, [1, 0]]
            transform_matrix[[0, 1]] = transform_matrix[[1, 0]]
        final_affine_matrix = transform_matrix[:2, :2]
        final_offset = transform_matrix[:2, 2]
        channel_images = [
            ndimage.affine_transform(x_channel, final_affine_matrix, final_offset,
                                     order=order, mode=fill_mode, cval=cval)
            for x_channel in x
        ]
        x = np.stack(channel_images, axis=0)
        x = np.rollaxis(x, 0, channel_axis + 1)
    return x


def apply_channel_shift(x, intensity, channel_axis=2):
    x = np.rollaxis(x, channel_axis, 0)
    min_x, max_x = np.min(x), np.max(x)
    x = np.stack([np.clip(c + intensity, min_x, max_x) for c in x], axis=0)
    return np.rollaxis(x, 0, channel_axis + 1)


def array_to_img(x, scale):
    x = np.asarray(x, dtype="float32")
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    return Image.fromarray(x.astype("uint8"), "RGB")


def apply_brightness_shift(x, brightness, scale=True):
    x_min, x_max = np.min(x), np.max(x)
    local_scale = (x_min < 0) or (x_max > 255)
    x = array_to_img(x, scale=local_scale or scale)
    x = ImageEnhance.Brightness(x).enhance(brightness)
    x = np.asarray(x, dtype="float32")
    if not scale and local_scale:
        x = x / 255 * (x_max - x_min) + x_min
    return x


def apply_transform(x, p, fill_mode, cval):
    x = apply_affine_transform(x, p["theta"], p["tx"], p["ty"], p["shear"],
                               p["zx"], p["zy"], fill_mode=fill_mode, cval=cval)
    if p.get("channel_shift_intensity") is not None:
        x = apply_channel_shift(x, p["channel_shift_intensity"])
    if p.get("flip_horizontal", False):
        x = x[:, ::-1, :]
    if p.get("flip_vertical", False):
        x = x[::-1, :, :]
    if p.get("brightness") is not None:
        # ImageDataGenerator.apply_transform passes scale=False.
        x = apply_brightness_shift(x, p["brightness"], False)
    return x


AFFINE = dict(flip_horizontal=False, flip_vertical=False,
              channel_shift_intensity=None, brightness=None)

CASES = [
    ("NEAREST", "nearest", 0.0,
     dict(theta=17.0, tx=1.3, ty=-2.1, shear=9.0, zx=0.8, zy=1.15, **AFFINE)),
    ("CONSTANT", "constant", 7.5,
     dict(theta=-23.0, tx=-0.7, ty=1.6, shear=-12.0, zx=1.1, zy=0.9, **AFFINE)),
    ("REFLECT", "reflect", 0.0,
     dict(theta=35.0, tx=2.4, ty=0.5, shear=15.0, zx=1.3, zy=1.25, **AFFINE)),
    ("WRAP", "wrap", 0.0,
     dict(theta=-40.0, tx=-1.8, ty=-2.7, shear=-8.0, zx=1.2, zy=0.85, **AFFINE)),
    # Whole apply_transform: affine + channel shift + flips + brightness.
    ("FULL_BRIGHTER", "nearest", 0.0,
     dict(theta=11.0, tx=0.6, ty=-1.2, shear=5.0, zx=0.9, zy=1.05,
          flip_horizontal=True, flip_vertical=True,
          channel_shift_intensity=40.0, brightness=1.3)),
    ("FULL_DARKER", "constant", 0.0,
     dict(theta=-7.0, tx=-1.1, ty=0.4, shear=-6.0, zx=1.05, zy=0.95,
          flip_horizontal=True, flip_vertical=False,
          channel_shift_intensity=-25.0, brightness=0.6)),
    # cval outside 0..255 takes apply_brightness_shift's rescale-and-map-back path.
    ("FULL_OUT_OF_RANGE", "constant", 300.0,
     dict(theta=25.0, tx=0.0, ty=0.0, shear=0.0, zx=1.0, zy=1.0,
          flip_horizontal=False, flip_vertical=True,
          channel_shift_intensity=None, brightness=0.8)),
]


def rust_array(name, x):
    # HWC -> the module's CHW output layout (scale 1, offset 0).
    chw = np.transpose(x, (2, 0, 1)).reshape(-1)
    lines = []
    for i in range(0, chw.size, W):
        # Shortest f32 literal of the value rounded to 4 decimals.
        lines.append("    " + " ".join(
            np.format_float_positional(np.float32(round(float(v), 4)), unique=True, trim="0") + ","
            for v in chw[i:i + W]))
    return f"const {name}: [f32; {chw.size}] = [\n" + "\n".join(lines) + "\n];"


if __name__ == "__main__":
    print(f"// numpy {np.__version__}, scipy {scipy.__version__}, Pillow {PIL.__version__}")
    img = fixture_image().astype(np.float32)
    for name, mode, cval, params in CASES:
        out = apply_transform(img.copy(), params, mode, cval)
        shown = ", ".join(f"{k}={v}" for k, v in params.items()
                          if v is not None and v is not False)
        print(f"// fill_mode={mode!r}, cval={cval}: {shown}")
        print(rust_array(name, out))
