//! Per-image random data augmentation with the semantics of Keras' legacy
//! `ImageDataGenerator` (Keras 3, keras/src/legacy/preprocessing/image.py).
//!
//! [`sample_transform`] draws one image's parameters like
//! `get_random_transform`, and [`Transform::apply`] does what `apply_transform`
//! does with the default `interpolation_order=1`, in the same order:
//!
//! 1. `apply_affine_transform`: rotation, shift, shear and zoom matrices
//!    multiplied in that order, centred with `transform_matrix_offset_center`,
//!    axes swapped (`M' = PMP`), then `scipy.ndimage.affine_transform(order=1,
//!    mode=fill_mode, cval=cval)`: every output pixel is mapped to an input
//!    coordinate and sampled bilinearly. Skipped (a plain copy) when the affine
//!    part is the identity, as Keras skips it.
//! 2. `apply_channel_shift`: one intensity added to every channel, clipped to
//!    the image's global min/max.
//! 3. horizontal flip, then vertical flip.
//! 4. `apply_brightness_shift(x, brightness, scale=False)`, which is what
//!    `apply_transform` passes: the image is truncated to `u8`, multiplied by
//!    the factor the way PIL's `ImageEnhance.Brightness` does (f32 product,
//!    clipped to 0..=255, truncated) and turned back into floats, so it is
//!    quantized exactly as in Keras. Only when the image leaves 0..=255 (a
//!    `cval` outside it) is it first stretched min..max to 0..255 and mapped
//!    back afterwards.
//!
//! Keras quirks that are reproduced on purpose, so results match Keras:
//! - Because of the `PMP` swap, the first matrix coordinate is the column:
//!   `tx` (drawn from `height_shift_range`, scaled by the height) moves the
//!   image horizontally and `ty` (from `width_shift_range`) vertically, and the
//!   rotation/zoom centre is `(row, col) = (width/2 - 0.5, height/2 - 0.5)`,
//!   which is the true centre only for square images.
//! - `zx` scales columns and `zy` rows of the input coordinate: `zx < 1`
//!   magnifies horizontally.
//! - Fill modes are scipy's: `constant` gives `cval` for any output pixel whose
//!   input coordinate lies outside `[0, len-1]` (no blending with `cval`, unlike
//!   scipy's `grid-constant`); `reflect` is half-sample symmetric
//!   (`dcba|abcd|dcba`); `wrap` is scipy's legacy `wrap`, whose period is
//!   `len - 1` (first and last sample coincide), not the `abcd|abcd|abcd`
//!   that Keras' docstring shows.

use rand::Rng;

use crate::spec::{AugmentSpec, FillMode};

/// One image's randomly drawn parameters (Keras' `transform_parameters` dict).
/// `Default` is [`Transform::identity`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    /// Rotation in degrees; positive turns the content counter-clockwise.
    pub theta: f64,
    /// Keras' `tx`: drawn from `height_shift_range` (pixels), but applied along
    /// the columns as Keras does: positive moves the content left.
    pub tx: f64,
    /// Keras' `ty`: drawn from `width_shift_range` (pixels), but applied along
    /// the rows as Keras does: positive moves the content up.
    pub ty: f64,
    /// Shear angle in degrees.
    pub shear: f64,
    /// Zoom of the input column coordinate (`< 1` magnifies).
    pub zx: f64,
    /// Zoom of the input row coordinate (`< 1` magnifies).
    pub zy: f64,
    /// Applied after the affine part and the channel shift.
    pub flip_horizontal: bool,
    /// Applied after the horizontal flip.
    pub flip_vertical: bool,
    /// Added to every channel; 0 means no channel shift.
    pub channel_shift: f64,
    /// PIL brightness factor.
    pub brightness: Option<f64>,
}

impl Default for Transform {
    fn default() -> Self {
        Self::identity()
    }
}

/// Draws one image's parameters, in Keras' order (theta, tx, ty, shear, zx/zy, flips, channel shift, brightness).
/// As in Keras, tx comes from `height_shift_range` (scaled by `height`) and ty from
/// `width_shift_range` (scaled by `width`); see [`Transform::tx`] for how Keras applies them.
///
/// An option that is off draws nothing (Keras draws both flip coins even when
/// flipping is off); an option that is on takes one `f64` (two for zoom, one
/// `bool` for a flip). As all draws come from one stream, turning an option on
/// changes the values drawn for the options after it.
pub fn sample_transform(
    augment: &AugmentSpec,
    rng: &mut impl Rng,
    height: usize,
    width: usize,
) -> Transform {
    let mut t = Transform::identity();
    if augment.rotation_range != 0.0 {
        t.theta = uniform(rng, -augment.rotation_range, augment.rotation_range);
    }
    if augment.height_shift_range != 0.0 {
        t.tx = shift(rng, augment.height_shift_range, height);
    }
    if augment.width_shift_range != 0.0 {
        t.ty = shift(rng, augment.width_shift_range, width);
    }
    if augment.shear_range != 0.0 {
        t.shear = uniform(rng, -augment.shear_range, augment.shear_range);
    }
    let [lo, hi] = augment.zoom_range.bounds();
    if [lo, hi] != [1.0, 1.0] {
        t.zx = uniform(rng, lo, hi);
        t.zy = uniform(rng, lo, hi);
    }
    if augment.horizontal_flip {
        t.flip_horizontal = rng.random_bool(0.5);
    }
    if augment.vertical_flip {
        t.flip_vertical = rng.random_bool(0.5);
    }
    if augment.channel_shift_range != 0.0 {
        t.channel_shift = uniform(
            rng,
            -augment.channel_shift_range,
            augment.channel_shift_range,
        );
    }
    if let Some([lo, hi]) = augment.brightness_range {
        t.brightness = Some(uniform(rng, lo, hi));
    }
    t
}

/// numpy's `uniform(lo, hi)`: `lo + (hi - lo) * U[0, 1)`; never panics.
fn uniform(rng: &mut impl Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

/// A shift in pixels: ranges below 1 are fractions of `size`.
fn shift(rng: &mut impl Rng, range: f64, size: usize) -> f64 {
    let s = uniform(rng, -range, range);
    if range < 1.0 { s * size as f64 } else { s }
}

type Mat3 = [[f64; 3]; 3];

fn matmul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
        }
    }
    m
}

/// The two bilinear taps along one axis and their weights.
#[derive(Clone, Copy)]
struct Taps {
    i0: usize,
    i1: usize,
    w0: f64,
    w1: f64,
}

impl Taps {
    /// Taps for a coordinate already inside `[0, len-1]`.
    fn inside(c: f64, len: usize) -> Self {
        // Via i64: x86-64 converts f64 <-> i64 in one instruction, not so u64.
        let i = c as i64;
        let t = c - i as f64;
        let i0 = i as usize;
        Taps {
            i0,
            i1: (i0 + 1).min(len - 1),
            w0: 1.0 - t,
            w1: t,
        }
    }
}

/// One image axis: its length and last index (as f64, converted once).
#[derive(Clone, Copy)]
struct Axis {
    len: usize,
    last: f64,
}

impl Axis {
    fn new(len: usize) -> Self {
        Axis {
            len,
            last: len as f64 - 1.0,
        }
    }

    /// Where input coordinate `c` samples along this (non-empty) axis, as
    /// scipy.ndimage's order-1 interpolation does; `None` means "use cval".
    #[inline]
    fn taps(self, c: f64, fill: FillMode) -> Option<Taps> {
        let (len, last) = (self.len, self.last);
        if c >= 0.0 && c < last {
            return Some(Taps::inside(c, len));
        }
        match fill {
            FillMode::Nearest => Some(Taps::inside(c.max(0.0).min(last), len)),
            // No interpolation towards cval: anything outside [0, len-1] is cval.
            FillMode::Constant => (c >= 0.0 && c <= last).then(|| Taps::inside(c, len)),
            FillMode::Reflect => {
                // Bilinear interpolation on the half-sample symmetric extension.
                let f = c.floor();
                let t = c - f;
                let i = f as i64;
                Some(Taps {
                    i0: reflect_index(i, len),
                    i1: reflect_index(i.saturating_add(1), len),
                    w0: 1.0 - t,
                    w1: t,
                })
            }
            FillMode::Wrap => Some(Taps::inside(wrap_coordinate(c, len), len)),
        }
    }
}

/// Index `i` of the signal extended as `dcba|abcd|dcba`.
fn reflect_index(i: i64, len: usize) -> usize {
    let n = len as i64;
    let m = i.rem_euclid(2 * n);
    (if m >= n { 2 * n - 1 - m } else { m }) as usize
}

/// scipy's `map_coordinate` for mode `wrap` (period `len - 1`), same arithmetic;
/// clamped so that rounding cannot leave `[0, len-1]`.
fn wrap_coordinate(c: f64, len: usize) -> f64 {
    if len <= 1 {
        return 0.0;
    }
    let sz = (len - 1) as f64;
    let mapped = if c < 0.0 {
        c + sz * (((-c / sz) as i64 + 1) as f64)
    } else if c > sz {
        c - sz * ((c / sz) as i64 as f64)
    } else {
        c
    };
    mapped.max(0.0).min(sz)
}

/// `apply_brightness_shift(x, factor, scale=False)`, given the image's min/max.
struct Brightness {
    /// PIL's result for each `u8`, already turned back into the float scale.
    lut: [f32; 256],
    /// `(min, divisor)` when the image leaves 0..=255 and is stretched to 0..255
    /// first; the divisor is `max - min`, or 1 where Keras skips the division.
    stretch: Option<(f32, f32)>,
}

impl Brightness {
    fn new(factor: f64, min: f32, max: f32) -> Self {
        let range = max - min;
        let stretch =
            (min < 0.0 || max > 255.0).then_some((min, if range == 0.0 { 1.0 } else { range }));
        // PIL's ImagingBlend with a black image: f32 product, clipped, truncated.
        let alpha = factor as f32;
        let mut lut = [0.0; 256];
        for (q, v) in lut.iter_mut().enumerate() {
            let p = (alpha * q as f32).clamp(0.0, 255.0).trunc();
            // Keras maps a stretched image back: x / 255 * (max - min) + min.
            *v = if stretch.is_some() {
                p / 255.0 * range + min
            } else {
                p
            };
        }
        Brightness { lut, stretch }
    }

    /// Replaces each `x` of `values` by `brightness(pre(x)) * s + o`.
    fn apply(&self, values: &mut [f32], pre: impl Fn(f32) -> f32, s: f32, o: f32) {
        // array_to_img's `astype("uint8")` truncates (saturating here).
        match self.stretch {
            Some((min, divisor)) => values.iter_mut().for_each(|v| {
                *v = self.lut[((pre(*v) - min) / divisor * 255.0) as u8 as usize] * s + o;
            }),
            None => values
                .iter_mut()
                .for_each(|v| *v = self.lut[pre(*v) as u8 as usize] * s + o),
        }
    }
}

impl Transform {
    /// No change (zx = zy = 1).
    pub fn identity() -> Self {
        Transform {
            theta: 0.0,
            tx: 0.0,
            ty: 0.0,
            shear: 0.0,
            zx: 1.0,
            zy: 1.0,
            flip_horizontal: false,
            flip_vertical: false,
            channel_shift: 0.0,
            brightness: None,
        }
    }

    fn affine_is_identity(&self) -> bool {
        self.theta == 0.0
            && self.tx == 0.0
            && self.ty == 0.0
            && self.shear == 0.0
            && self.zx == 1.0
            && self.zy == 1.0
    }

    /// The output-to-input map `m`: output pixel `(r, col)` samples input
    /// `(m[0]*r + m[1]*col + m[2], m[3]*r + m[4]*col + m[5])`; the matrix that
    /// `apply_affine_transform` hands to scipy.
    fn input_map(&self, height: usize, width: usize) -> [f64; 6] {
        let theta = self.theta.to_radians();
        let (sin, cos) = theta.sin_cos();
        let rotation = [[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]];
        let shift = [[1.0, 0.0, self.tx], [0.0, 1.0, self.ty], [0.0, 0.0, 1.0]];
        let shear = self.shear.to_radians();
        let shear = [
            [1.0, -shear.sin(), 0.0],
            [0.0, shear.cos(), 0.0],
            [0.0, 0.0, 1.0],
        ];
        let zoom = [[self.zx, 0.0, 0.0], [0.0, self.zy, 0.0], [0.0, 0.0, 1.0]];
        // Identity factors (what Keras leaves out) multiply exactly, so always composing is the same.
        let m = matmul(&matmul(&matmul(&rotation, &shift), &shear), &zoom);
        // transform_matrix_offset_center(m, h, w): the first coordinate gets the height's centre.
        let (ox, oy) = (height as f64 / 2.0 - 0.5, width as f64 / 2.0 - 0.5);
        let offset = [[1.0, 0.0, ox], [0.0, 1.0, oy], [0.0, 0.0, 1.0]];
        let reset = [[1.0, 0.0, -ox], [0.0, 1.0, -oy], [0.0, 0.0, 1.0]];
        let t = matmul(&matmul(&offset, &m), &reset);
        // M' = PMP: scipy's first (row) coordinate is the matrix's second.
        [t[1][1], t[1][0], t[1][2], t[0][1], t[0][0], t[0][2]]
    }

    /// Applies the transform to `source`, an RGB image stored HWC as u8 (height*width*3), and writes
    /// channels-first f32 planes into `out` (3*height*width): `out[c*plane + y*width + x] = v * scale[c] + offset[c]`,
    /// where v is the augmented pixel value on the 0..255 scale (NOT rounded, as Keras works on floats;
    /// only the brightness step quantizes, as Keras' does).
    ///
    /// Panics if `source` or `out` does not have exactly `3 * height * width` elements.
    #[allow(clippy::too_many_arguments)]
    pub fn apply(
        &self,
        source: &[u8],
        height: usize,
        width: usize,
        fill: FillMode,
        cval: f32,
        scale: [f32; 3],
        offset: [f32; 3],
        out: &mut [f32],
    ) {
        let plane = height * width;
        assert_eq!(
            source.len(),
            plane * 3,
            "augment: source must be an HWC RGB image of {height}x{width}x3 bytes"
        );
        assert_eq!(
            out.len(),
            plane * 3,
            "augment: out must hold 3 planes of {height}x{width} floats"
        );

        let pixels = source.as_chunks::<3>().0;
        let (red, rest) = out.split_at_mut(plane);
        let (green, blue) = rest.split_at_mut(plane);
        // Channel shift and brightness need the global min/max of the geometric
        // result, so then it is stored raw and finished in a second pass.
        let shift = self.channel_shift as f32;
        let second_pass = shift != 0.0 || self.brightness.is_some();
        let (s, o) = if second_pass {
            ([1.0; 3], [0.0; 3])
        } else {
            (scale, offset)
        };

        // Pass 1: the geometric part (or a copy), with scale/offset unless a second pass follows.
        let planes = [red, green, blue];
        if self.affine_is_identity() {
            self.write_planes(planes, height, width, s, o, |r, c, _, _| {
                pixels[r * width + c].map(f32::from)
            });
        } else {
            let sampler = Sampler {
                pixels,
                rows: Axis::new(height),
                cols: Axis::new(width),
                map: self.input_map(height, width),
                fill,
                cval,
            };
            self.write_planes(planes, height, width, s, o, |_, _, r, c| sampler.at(r, c));
        }
        if !second_pass {
            return;
        }

        // Pass 2: channel shift, brightness, then scale/offset.
        let (lo, hi) = min_max(out);
        // np.clip(x + shift, min, max)
        let clip = |x: f32| (x + shift).max(lo).min(hi);
        // Clipping is monotonic, so the shifted image's extremes are the shifted extremes.
        let brightness = self
            .brightness
            .map(|factor| Brightness::new(factor, clip(lo), clip(hi)));
        // (`max(1)`: a zero chunk size panics, even for an empty image.)
        for (ch, values) in out.chunks_exact_mut(plane.max(1)).enumerate() {
            let (s, o) = (scale[ch], offset[ch]);
            match (&brightness, shift != 0.0) {
                (Some(b), true) => b.apply(values, clip, s, o),
                // Skipping the no-op clip makes this loop twice as fast.
                (Some(b), false) => b.apply(values, |x| x, s, o),
                (None, _) => values.iter_mut().for_each(|v| *v = clip(*v) * s + o),
            }
        }
    }

    /// Writes `px(r, c, r as f64, c as f64) * s + o` for every output pixel, where
    /// `(r, c)` is the pre-flip position: flips only move pixels, so they commute
    /// with the per-value steps and are applied by reading the mirrored pixel.
    #[inline]
    fn write_planes(
        &self,
        [red, green, blue]: [&mut [f32]; 3],
        height: usize,
        width: usize,
        s: [f32; 3],
        o: [f32; 3],
        px: impl Fn(usize, usize, f64, f64) -> [f32; 3],
    ) {
        // Indices are also kept as f64 counters (exact), as converting usize to
        // f64 per pixel is slow on x86-64.
        let (last_r, last_c) = (height as f64 - 1.0, width as f64 - 1.0);
        let mut drf = 0.0;
        for dr in 0..height {
            let (r, rf) = if self.flip_vertical {
                (height - 1 - dr, last_r - drf)
            } else {
                (dr, drf)
            };
            drf += 1.0;
            let row = dr * width..(dr + 1) * width;
            let dest = red[row.clone()]
                .iter_mut()
                .zip(&mut green[row.clone()])
                .zip(&mut blue[row]);
            let mut dcf = 0.0;
            for (dc, ((vr, vg), vb)) in dest.enumerate() {
                let (c, cf) = if self.flip_horizontal {
                    (width - 1 - dc, last_c - dcf)
                } else {
                    (dc, dcf)
                };
                dcf += 1.0;
                let v = px(r, c, rf, cf);
                *vr = v[0] * s[0] + o[0];
                *vg = v[1] * s[1] + o[1];
                *vb = v[2] * s[2] + o[2];
            }
        }
    }
}

/// The smallest and largest value, in 8 lanes so that the loop vectorizes.
fn min_max(values: &[f32]) -> (f32, f32) {
    let mut lo = [f32::INFINITY; 8];
    let mut hi = [f32::NEG_INFINITY; 8];
    let (chunks, rest) = values.as_chunks::<8>();
    for chunk in chunks {
        for k in 0..8 {
            lo[k] = lo[k].min(chunk[k]);
            hi[k] = hi[k].max(chunk[k]);
        }
    }
    let fold = |init: f32, f: fn(f32, f32) -> f32, lanes: [f32; 8]| {
        lanes.into_iter().chain(rest.iter().copied()).fold(init, f)
    };
    (
        fold(f32::INFINITY, f32::min, lo),
        fold(f32::NEG_INFINITY, f32::max, hi),
    )
}

/// Order-1 sampling of the source image under an output-to-input map.
struct Sampler<'a> {
    pixels: &'a [[u8; 3]],
    rows: Axis,
    cols: Axis,
    map: [f64; 6],
    fill: FillMode,
    cval: f32,
}

impl Sampler<'_> {
    /// The value of output pixel `(r, c)`.
    #[inline]
    fn at(&self, r: f64, c: f64) -> [f32; 3] {
        let m = &self.map;
        // Same operation order as scipy's NI_GeometricTransform.
        let in_r = r * m[0] + c * m[1] + m[2];
        let in_c = r * m[3] + c * m[4] + m[5];
        match (
            self.rows.taps(in_r, self.fill),
            self.cols.taps(in_c, self.fill),
        ) {
            (Some(tr), Some(tc)) => self.bilinear(tr, tc),
            _ => [self.cval; 3],
        }
    }

    /// Order-1 interpolation of the three channels, summed in scipy's tap order.
    #[inline]
    fn bilinear(&self, tr: Taps, tc: Taps) -> [f32; 3] {
        let at = |r: usize, c: usize| self.pixels[r * self.cols.len + c];
        let taps = [
            (at(tr.i0, tc.i0), tr.w0, tc.w0),
            (at(tr.i0, tc.i1), tr.w0, tc.w1),
            (at(tr.i1, tc.i0), tr.w1, tc.w0),
            (at(tr.i1, tc.i1), tr.w1, tc.w1),
        ];
        std::array::from_fn(|ch| {
            let mut t = 0.0f64;
            for &(px, wr, wc) in &taps {
                t += f64::from(px[ch]) * wr * wc;
            }
            t as f32
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ZoomRange;
    use rand::{RngCore, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    const NO_SCALE: [f32; 3] = [1.0; 3];
    const NO_OFFSET: [f32; 3] = [0.0; 3];

    /// Applies `t` with unit scale and returns the CHW planes.
    fn run(t: &Transform, img: &[u8], h: usize, w: usize, fill: FillMode, cval: f32) -> Vec<f32> {
        let mut out = vec![f32::NAN; 3 * h * w];
        t.apply(img, h, w, fill, cval, NO_SCALE, NO_OFFSET, &mut out);
        out
    }

    /// An image from a per-pixel function of (row, col, channel).
    fn image(h: usize, w: usize, f: impl Fn(usize, usize, usize) -> u8) -> Vec<u8> {
        let mut img = Vec::with_capacity(h * w * 3);
        for r in 0..h {
            for c in 0..w {
                for ch in 0..3 {
                    img.push(f(r, c, ch));
                }
            }
        }
        img
    }

    fn at(out: &[f32], h: usize, w: usize, r: usize, c: usize, ch: usize) -> f32 {
        out[ch * h * w + r * w + c]
    }

    fn assert_close(got: &[f32], want: &[f32], tol: f32, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= tol,
                "{what}: element {i}: got {g}, want {w}"
            );
        }
    }

    /// The affine part only.
    fn affine(theta: f64, tx: f64, ty: f64, shear: f64, zx: f64, zy: f64) -> Transform {
        Transform {
            theta,
            tx,
            ty,
            shear,
            zx,
            zy,
            ..Transform::identity()
        }
    }

    fn shifted(tx: f64, ty: f64) -> Transform {
        affine(0.0, tx, ty, 0.0, 1.0, 1.0)
    }

    /// Row `r` of channel 0 of a 3x6 image whose columns hold a..f = 10..60.
    fn shifted_row(tx: f64, fill: FillMode, cval: f32) -> Vec<f32> {
        let (h, w) = (3, 6);
        let img = image(h, w, |r, c, ch| (10 * (c + 1) + 50 * ch + r) as u8);
        let out = run(&shifted(tx, 0.0), &img, h, w, fill, cval);
        // Every row and channel moves the same way.
        for r in 0..h {
            for ch in 0..3 {
                for c in 0..w {
                    let base = at(&out, h, w, 0, c, 0);
                    let want = if base == cval {
                        cval
                    } else {
                        base + (50 * ch + r) as f32
                    };
                    assert_eq!(
                        at(&out, h, w, r, c, ch),
                        want,
                        "{fill:?} tx={tx} r={r} ch={ch}"
                    );
                }
            }
        }
        (0..w).map(|c| at(&out, h, w, 0, c, 0)).collect()
    }

    #[test]
    fn horizontal_shift_and_fill_modes() {
        // Keras' tx moves the content along the columns: -2 = right by two pixels.
        let (a, b, c, d, e, f) = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0);
        let k = 7.0;
        assert_eq!(shifted_row(-2.0, FillMode::Nearest, k), [a, a, a, b, c, d]);
        assert_eq!(shifted_row(2.0, FillMode::Nearest, k), [c, d, e, f, f, f]);
        assert_eq!(shifted_row(-2.0, FillMode::Constant, k), [k, k, a, b, c, d]);
        assert_eq!(shifted_row(2.0, FillMode::Constant, k), [c, d, e, f, k, k]);
        // ba|abcdef|fe
        assert_eq!(shifted_row(-2.0, FillMode::Reflect, k), [b, a, a, b, c, d]);
        assert_eq!(shifted_row(2.0, FillMode::Reflect, k), [c, d, e, f, f, e]);
        // scipy's wrap has period len-1 = 5: column -1 is e, column 6 is b.
        assert_eq!(shifted_row(-2.0, FillMode::Wrap, k), [d, e, a, b, c, d]);
        assert_eq!(shifted_row(2.0, FillMode::Wrap, k), [c, d, e, f, b, c]);
        // Half a pixel interpolates between neighbours.
        assert_eq!(
            shifted_row(0.5, FillMode::Nearest, k),
            [15.0, 25.0, 35.0, 45.0, 55.0, 60.0]
        );
        // 5.5 is outside [0, 5]: cval, not a blend of f and cval (scipy's 'constant').
        assert_eq!(
            shifted_row(0.5, FillMode::Constant, k),
            [15.0, 25.0, 35.0, 45.0, 55.0, k]
        );
        assert_eq!(
            shifted_row(0.5, FillMode::Reflect, k),
            [15.0, 25.0, 35.0, 45.0, 55.0, 60.0]
        );
        assert_eq!(
            shifted_row(0.5, FillMode::Wrap, k),
            [15.0, 25.0, 35.0, 45.0, 55.0, 15.0]
        );
    }

    #[test]
    fn ty_shifts_rows() {
        let (h, w) = (4, 3);
        let img = image(h, w, |r, c, ch| (50 * r + 10 * c + ch) as u8);
        let out = run(&shifted(0.0, 1.0), &img, h, w, FillMode::Nearest, 0.0);
        for r in 0..h {
            for c in 0..w {
                for ch in 0..3 {
                    // Content moves up one row; the last row repeats.
                    let src = (r + 1).min(h - 1);
                    assert_eq!(at(&out, h, w, r, c, ch), (50 * src + 10 * c + ch) as f32);
                }
            }
        }
    }

    #[test]
    fn rotation_by_90_degrees() {
        let n = 4;
        let img = image(n, n, |r, c, ch| (16 * r + 3 * c + 70 * ch) as u8);
        let src = |r: usize, c: usize, ch: usize| f32::from(img[(r * n + c) * 3 + ch]);
        let ccw = run(
            &affine(90.0, 0.0, 0.0, 0.0, 1.0, 1.0),
            &img,
            n,
            n,
            FillMode::Nearest,
            0.0,
        );
        let cw = run(
            &affine(-90.0, 0.0, 0.0, 0.0, 1.0, 1.0),
            &img,
            n,
            n,
            FillMode::Nearest,
            0.0,
        );
        for r in 0..n {
            for c in 0..n {
                for ch in 0..3 {
                    // +90: transpose then flip vertically (numpy's rot90, counter-clockwise).
                    assert!((at(&ccw, n, n, r, c, ch) - src(c, n - 1 - r, ch)).abs() < 1e-4);
                    // -90: transpose then flip horizontally.
                    assert!((at(&cw, n, n, r, c, ch) - src(n - 1 - c, r, ch)).abs() < 1e-4);
                }
            }
        }
    }

    /// A 5x5 image that is linear in (row, col), so bilinear samples are exact.
    fn linear5() -> (Vec<u8>, impl Fn(f64, f64, usize) -> f64) {
        let img = image(5, 5, |r, c, ch| (20 * r + 3 * c + 60 * ch) as u8);
        (img, |r: f64, c: f64, ch: usize| {
            20.0 * r + 3.0 * c + 60.0 * ch as f64
        })
    }

    #[test]
    fn zoom_below_one_magnifies() {
        let (img, value) = linear5();
        // Centre (2, 2): output (r, c) samples input (2 + (r-2)*zy, 2 + (c-2)*zx).
        for (zx, zy) in [(0.5, 0.5), (0.5, 1.0), (1.0, 0.5)] {
            let out = run(
                &affine(0.0, 0.0, 0.0, 0.0, zx, zy),
                &img,
                5,
                5,
                FillMode::Nearest,
                0.0,
            );
            for r in 0..5 {
                for c in 0..5 {
                    for ch in 0..3 {
                        let want =
                            value(2.0 + (r as f64 - 2.0) * zy, 2.0 + (c as f64 - 2.0) * zx, ch);
                        assert!(
                            (f64::from(at(&out, 5, 5, r, c, ch)) - want).abs() < 1e-4,
                            "zx={zx} zy={zy}"
                        );
                    }
                }
            }
        }
        // zx = zy = 2 shrinks: the corners sample input (-2, -2) etc., clamped by 'nearest'.
        let out = run(
            &affine(0.0, 0.0, 0.0, 0.0, 2.0, 2.0),
            &img,
            5,
            5,
            FillMode::Nearest,
            0.0,
        );
        assert_eq!(at(&out, 5, 5, 0, 0, 0), 0.0);
        assert_eq!(at(&out, 5, 5, 1, 3, 0), value(0.0, 4.0, 0) as f32);
        assert_eq!(at(&out, 5, 5, 2, 2, 1), value(2.0, 2.0, 1) as f32);
    }

    #[test]
    fn centre_of_non_square_image_follows_keras() {
        // transform_matrix_offset_center(m, h, w) centres the column coordinate on
        // h/2 - 0.5 and the row coordinate on w/2 - 0.5 (after Keras' axis swap).
        let (h, w) = (3, 5);
        let img = image(h, w, |r, c, ch| (40 * r + 10 * c + ch) as u8);
        let out = run(
            &affine(0.0, 0.0, 0.0, 0.0, 0.5, 0.5),
            &img,
            h,
            w,
            FillMode::Nearest,
            0.0,
        );
        let (row_centre, col_centre) = (w as f64 / 2.0 - 0.5, h as f64 / 2.0 - 0.5);
        for r in 0..h {
            for c in 0..w {
                let in_r = row_centre + (r as f64 - row_centre) * 0.5;
                let in_c = col_centre + (c as f64 - col_centre) * 0.5;
                let want = 40.0 * in_r.min(2.0) + 10.0 * in_c;
                assert!(
                    (f64::from(at(&out, h, w, r, c, 0)) - want).abs() < 1e-4,
                    "({r}, {c})"
                );
            }
        }
    }

    #[test]
    fn shear() {
        let (img, value) = linear5();
        let degrees = 20.0f64;
        let out = run(
            &affine(0.0, 0.0, 0.0, degrees, 1.0, 1.0),
            &img,
            5,
            5,
            FillMode::Constant,
            -1.0,
        );
        let (sin, cos) = degrees.to_radians().sin_cos();
        let mut inside = 0;
        for r in 0..5 {
            for c in 0..5 {
                // Keras' shear matrix [[1, -sin, 0], [0, cos, 0]] on (col, row) about the centre.
                let in_r = 2.0 + cos * (r as f64 - 2.0);
                let in_c = 2.0 + (c as f64 - 2.0) - sin * (r as f64 - 2.0);
                // Coordinates within rounding of the border may go either way, as in scipy.
                let margin = |x: f64| x.min(4.0 - x);
                let (mr, mc) = (margin(in_r), margin(in_c));
                for ch in 0..3 {
                    let got = f64::from(at(&out, 5, 5, r, c, ch));
                    if mr > 1e-9 && mc > 1e-9 {
                        assert!((got - value(in_r, in_c, ch)).abs() < 1e-4, "({r}, {c})");
                        inside += 1;
                    } else if mr < -1e-9 || mc < -1e-9 {
                        assert_eq!(got, -1.0, "({r}, {c}) is outside");
                    }
                }
            }
        }
        assert!(inside > 30 && inside < 75);
    }

    #[test]
    fn channel_shift_clips_to_global_range() {
        let (h, w) = (2, 3);
        let img: Vec<u8> = vec![
            10, 50, 90, 120, 150, 200, 30, 60, 180, 20, 110, 170, 70, 80, 100, 140, 160, 190,
        ];
        for shift in [50.0f32, -50.0] {
            let t = Transform {
                channel_shift: f64::from(shift),
                ..Transform::identity()
            };
            let out = run(&t, &img, h, w, FillMode::Nearest, 0.0);
            for p in 0..h * w {
                for ch in 0..3 {
                    let want = (f32::from(img[p * 3 + ch]) + shift).clamp(10.0, 200.0);
                    assert_eq!(out[ch * h * w + p], want, "shift {shift}");
                }
            }
        }
    }

    #[test]
    fn brightness_multiplies_truncates_and_clips_like_pil() {
        let (h, w) = (2, 4);
        let img: Vec<u8> = (0..24).map(|i| (i * 11) as u8).collect();
        for factor in [1.5f64, 0.5, 0.73] {
            let t = Transform {
                brightness: Some(factor),
                ..Transform::identity()
            };
            let out = run(&t, &img, h, w, FillMode::Nearest, 0.0);
            for p in 0..h * w {
                for ch in 0..3 {
                    let want = (factor as f32 * f32::from(img[p * 3 + ch]))
                        .floor()
                        .min(255.0);
                    assert_eq!(out[ch * h * w + p], want, "factor {factor}");
                }
            }
        }
        // Non-integer interpolated values are truncated, as Keras' array_to_img does.
        let (img, value) = linear5();
        let t = Transform {
            zx: 0.5,
            brightness: Some(1.0),
            ..Transform::identity()
        };
        let out = run(&t, &img, 5, 5, FillMode::Nearest, 0.0);
        assert_eq!(value(0.0, 1.5, 0), 4.5);
        assert_eq!(at(&out, 5, 5, 0, 1, 0), 4.0);
    }

    #[test]
    fn flips() {
        let (h, w) = (3, 4);
        let img = image(h, w, |r, c, ch| (60 * ch + 12 * r + c) as u8);
        let src = |r: usize, c: usize, ch: usize| f32::from(img[(r * w + c) * 3 + ch]);
        for (fh, fv) in [(true, false), (false, true), (true, true)] {
            let t = Transform {
                flip_horizontal: fh,
                flip_vertical: fv,
                ..Transform::identity()
            };
            let out = run(&t, &img, h, w, FillMode::Constant, 99.0);
            for r in 0..h {
                for c in 0..w {
                    let sr = if fv { h - 1 - r } else { r };
                    let sc = if fh { w - 1 - c } else { c };
                    for ch in 0..3 {
                        assert_eq!(at(&out, h, w, r, c, ch), src(sr, sc, ch));
                    }
                }
            }
        }
    }

    #[test]
    fn flips_come_after_the_affine_part() {
        // Shift right by one with cval, then flip: the cval column ends up on the right.
        let (h, w) = (2, 3);
        let img = image(h, w, |_, c, _| (10 * (c + 1)) as u8);
        let t = Transform {
            tx: -1.0,
            flip_horizontal: true,
            ..Transform::identity()
        };
        let out = run(&t, &img, h, w, FillMode::Constant, 5.0);
        assert_eq!(&out[..w], [20.0, 10.0, 5.0]);
    }

    #[test]
    fn scale_offset_and_chw_layout() {
        let (h, w) = (2, 3);
        let img: Vec<u8> = (0..18).map(|i| (i * 13 + 1) as u8).collect();
        let scale = [2.0, 0.5, 1.0 / 255.0];
        let offset = [-1.0, 3.0, 0.25];
        let mut out = vec![0.0; 18];
        Transform::identity().apply(&img, h, w, FillMode::Nearest, 0.0, scale, offset, &mut out);
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    let want = f32::from(img[(y * w + x) * 3 + c]) * scale[c] + offset[c];
                    assert_eq!(out[c * h * w + y * w + x], want);
                }
            }
        }
    }

    #[test]
    fn identity_is_a_copy_even_with_constant_fill() {
        let (h, w) = (3, 5);
        let img: Vec<u8> = (0..45).map(|i| (i * 5) as u8).collect();
        let out = run(&Transform::identity(), &img, h, w, FillMode::Constant, -3.0);
        for p in 0..h * w {
            for ch in 0..3 {
                assert_eq!(out[ch * h * w + p], f32::from(img[p * 3 + ch]));
            }
        }
        assert_eq!(Transform::default(), Transform::identity());
    }

    #[test]
    fn tiny_images() {
        for (h, w) in [(1, 1), (1, 4), (3, 1)] {
            let img: Vec<u8> = (0..h * w * 3).map(|i| (i * 17) as u8).collect();
            for fill in [
                FillMode::Nearest,
                FillMode::Constant,
                FillMode::Reflect,
                FillMode::Wrap,
            ] {
                let t = Transform {
                    theta: 30.0,
                    tx: 0.7,
                    ty: -1.3,
                    zx: 0.8,
                    ..Transform::identity()
                };
                let out = run(&t, &img, h, w, fill, 1.0);
                assert!(out.iter().all(|v| v.is_finite()));
            }
        }
        let mut out: Vec<f32> = Vec::new();
        Transform::identity().apply(
            &[],
            0,
            0,
            FillMode::Nearest,
            0.0,
            NO_SCALE,
            NO_OFFSET,
            &mut out,
        );
    }

    #[test]
    #[should_panic(expected = "augment: source must be")]
    fn wrong_source_size_panics_clearly() {
        let mut out = vec![0.0; 12];
        Transform::identity().apply(
            &[0; 11],
            2,
            2,
            FillMode::Nearest,
            0.0,
            NO_SCALE,
            NO_OFFSET,
            &mut out,
        );
    }

    #[test]
    fn default_config_is_identity() {
        let cfg = AugmentSpec::default();
        assert!(cfg.is_identity());
        let on = [
            AugmentSpec {
                rotation_range: 1.0,
                ..cfg.clone()
            },
            AugmentSpec {
                width_shift_range: 0.1,
                ..cfg.clone()
            },
            AugmentSpec {
                height_shift_range: 0.1,
                ..cfg.clone()
            },
            AugmentSpec {
                shear_range: 1.0,
                ..cfg.clone()
            },
            AugmentSpec {
                zoom_range: ZoomRange::Between([0.9, 1.0]),
                ..cfg.clone()
            },
            AugmentSpec {
                horizontal_flip: true,
                ..cfg.clone()
            },
            AugmentSpec {
                vertical_flip: true,
                ..cfg.clone()
            },
            AugmentSpec {
                brightness_range: Some([1.0, 1.0]),
                ..cfg.clone()
            },
            AugmentSpec {
                channel_shift_range: 1.0,
                ..cfg.clone()
            },
        ];
        assert!(on.iter().all(|c| !c.is_identity()));
    }

    #[test]
    fn options_that_are_off_draw_nothing() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let fill = AugmentSpec {
            fill_mode: FillMode::Wrap,
            cval: 3.0,
            ..AugmentSpec::default()
        };
        assert_eq!(
            sample_transform(&fill, &mut rng, 10, 20),
            Transform::identity()
        );
        assert_eq!(
            rng.next_u64(),
            ChaCha8Rng::seed_from_u64(1).next_u64(),
            "the rng was not touched"
        );

        let only_rotation = AugmentSpec {
            rotation_range: 10.0,
            ..AugmentSpec::default()
        };
        let t = sample_transform(&only_rotation, &mut ChaCha8Rng::seed_from_u64(1), 10, 20);
        assert_ne!(t.theta, 0.0);
        assert_eq!(
            t,
            Transform {
                theta: t.theta,
                ..Transform::identity()
            }
        );
    }

    #[test]
    fn sample_is_deterministic_and_respects_ranges() {
        let cfg = AugmentSpec {
            rotation_range: 30.0,
            width_shift_range: 7.0,  // pixels
            height_shift_range: 0.1, // fraction of the height
            shear_range: 10.0,
            zoom_range: ZoomRange::Between([0.8, 1.2]),
            horizontal_flip: true,
            vertical_flip: true,
            brightness_range: Some([0.5, 1.5]),
            channel_shift_range: 20.0,
            ..AugmentSpec::default()
        };
        let (h, w) = (100, 50);
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..500)
                .map(|_| sample_transform(&cfg, &mut rng, h, w))
                .collect::<Vec<_>>()
        };
        let ts = draw(7);
        assert_eq!(ts, draw(7));
        assert_ne!(ts, draw(8));
        let max = |f: fn(&Transform) -> f64| ts.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
        let min = |f: fn(&Transform) -> f64| ts.iter().map(f).fold(f64::INFINITY, f64::min);
        let within = |f: fn(&Transform) -> f64, lo: f64, hi: f64, spread: f64| {
            assert!(
                min(f) >= lo && max(f) <= hi,
                "[{}, {}] not in [{lo}, {hi}]",
                min(f),
                max(f)
            );
            assert!(max(f) - min(f) > spread * (hi - lo), "the range is used");
        };
        within(|t| t.theta, -30.0, 30.0, 0.9);
        within(|t| t.tx, -10.0, 10.0, 0.9); // 0.1 * height
        within(|t| t.ty, -7.0, 7.0, 0.9);
        within(|t| t.shear, -10.0, 10.0, 0.9);
        within(|t| t.zx, 0.8, 1.2, 0.9);
        within(|t| t.zy, 0.8, 1.2, 0.9);
        within(|t| t.channel_shift, -20.0, 20.0, 0.9);
        within(|t| t.brightness.unwrap_or(f64::NAN), 0.5, 1.5, 0.9);
        assert!(
            ts.iter().any(|t| t.zx != t.zy),
            "zx and zy are drawn independently"
        );
        let flips = |f: fn(&Transform) -> bool| ts.iter().filter(|t| f(t)).count();
        assert!((150..350).contains(&flips(|t| t.flip_horizontal)));
        assert!((150..350).contains(&flips(|t| t.flip_vertical)));
    }

    // ---- Reference fixture -------------------------------------------------------------
    //
    // The arrays below were printed by tests/reference/keras_affine_reference.py, which
    // re-implements Keras 3's legacy `apply_transform`/`apply_affine_transform`
    // step by step with numpy 2.4.6, scipy 1.17.1 (ndimage.affine_transform, order=1) and
    // Pillow 13.0.0 (ImageEnhance.Brightness), on the 7x9 image `fixture_image()` below.
    // Layout: CHW, scale 1, offset 0.

    const H: usize = 7;
    const W: usize = 9;

    fn fixture_image() -> Vec<u8> {
        (0..H * W * 3).map(|k| ((37 * k) % 251) as u8).collect()
    }

    fn check_fixture(t: Transform, fill: FillMode, cval: f32, want: &[f32], what: &str) {
        let out = run(&t, &fixture_image(), H, W, fill, cval);
        assert_close(&out, want, 1e-3, what);
    }

    #[test]
    fn keras_reference_nearest() {
        check_fixture(
            affine(17.0, 1.3, -2.1, 9.0, 0.8, 1.15),
            FillMode::Nearest,
            0.0,
            &NEAREST,
            "nearest",
        );
    }

    #[test]
    fn keras_reference_constant() {
        check_fixture(
            affine(-23.0, -0.7, 1.6, -12.0, 1.1, 0.9),
            FillMode::Constant,
            7.5,
            &CONSTANT,
            "constant",
        );
    }

    #[test]
    fn keras_reference_reflect() {
        check_fixture(
            affine(35.0, 2.4, 0.5, 15.0, 1.3, 1.25),
            FillMode::Reflect,
            0.0,
            &REFLECT,
            "reflect",
        );
    }

    #[test]
    fn keras_reference_wrap() {
        check_fixture(
            affine(-40.0, -1.8, -2.7, -8.0, 1.2, 0.85),
            FillMode::Wrap,
            0.0,
            &WRAP,
            "wrap",
        );
    }

    #[test]
    fn keras_reference_full_pipeline() {
        let brighter = Transform {
            flip_horizontal: true,
            flip_vertical: true,
            channel_shift: 40.0,
            brightness: Some(1.3),
            ..affine(11.0, 0.6, -1.2, 5.0, 0.9, 1.05)
        };
        check_fixture(brighter, FillMode::Nearest, 0.0, &FULL_BRIGHTER, "brighter");
        let darker = Transform {
            flip_horizontal: true,
            channel_shift: -25.0,
            brightness: Some(0.6),
            ..affine(-7.0, -1.1, 0.4, -6.0, 1.05, 0.95)
        };
        check_fixture(darker, FillMode::Constant, 0.0, &FULL_DARKER, "darker");
        // cval 300 leaves 0..=255: brightness stretches to 0..255 and maps back.
        let out_of_range = Transform {
            flip_vertical: true,
            brightness: Some(0.8),
            ..affine(25.0, 0.0, 0.0, 0.0, 1.0, 1.0)
        };
        check_fixture(
            out_of_range,
            FillMode::Constant,
            300.0,
            &FULL_OUT_OF_RANGE,
            "out of range",
        );
    }

    #[test]
    fn keras_reference_with_scale_and_offset() {
        let scale = [1.0 / 127.5, 0.5, 2.0];
        let offset = [-1.0, 0.0, -3.0];
        let mut out = vec![0.0; 3 * H * W];
        let t = affine(17.0, 1.3, -2.1, 9.0, 0.8, 1.15);
        t.apply(
            &fixture_image(),
            H,
            W,
            FillMode::Nearest,
            0.0,
            scale,
            offset,
            &mut out,
        );
        let want: Vec<f32> = NEAREST
            .iter()
            .enumerate()
            .map(|(i, v)| v * scale[i / (H * W)] + offset[i / (H * W)])
            .collect();
        assert_close(&out, &want, 1e-4, "scaled");
    }

    // fill_mode='nearest', cval=0.0: theta=17.0, tx=1.3, ty=-2.1, shear=9.0, zx=0.8, zy=1.15
    const NEAREST: [f32; 189] = [
        112.0026, 91.1392, 148.7904, 41.6842, 94.8988, 135.0, 135.0, 135.0, 135.0, 182.5804,
        75.4743, 120.101, 112.262, 38.9407, 123.8606, 135.0, 133.967, 132.7975, 145.3032, 146.052,
        63.7893, 147.5397, 73.041, 64.0404, 129.9685, 128.799, 127.6295, 86.1624, 169.9128,
        104.002, 86.4135, 138.4507, 30.1751, 86.6647, 123.6309, 122.4614, 134.9629, 108.7867,
        169.4117, 61.136, 109.0378, 95.5848, 25.5385, 109.2889, 117.2934, 200.3726, 92.097,
        131.4109, 126.5457, 47.9116, 131.662, 70.1512, 98.3922, 112.1253, 153.784, 157.5067,
        70.2847, 154.0351, 83.6798, 70.5359, 154.2862, 238.0366, 152.5773, 149.0026, 128.1392,
        185.7904, 78.6842, 131.8988, 172.0, 172.0, 172.0, 172.0, 219.5804, 112.4743, 157.101,
        149.262, 75.9407, 160.8606, 172.0, 170.967, 169.7975, 182.3032, 183.052, 100.7893,
        184.5397, 110.041, 101.0404, 166.9685, 165.799, 164.6295, 123.1624, 206.9128, 141.002,
        123.4135, 175.4507, 67.1751, 123.6647, 160.6309, 159.4614, 135.7037, 145.7867, 206.4117,
        98.136, 146.0378, 132.5848, 62.5385, 146.2889, 154.2934, 237.3726, 129.097, 168.4109,
        163.5457, 84.9116, 168.662, 89.7189, 85.1628, 149.1253, 190.784, 194.5067, 107.2847,
        191.0351, 120.6798, 107.5359, 155.1286, 46.8529, 107.787, 80.2193, 165.1392, 222.7904,
        115.6842, 168.8988, 209.0, 209.0, 209.0, 209.0, 24.2613, 109.1811, 194.101, 186.262,
        112.9407, 197.8606, 209.0, 207.967, 206.7975, 76.1581, 53.223, 137.7893, 221.5397, 147.041,
        138.0404, 203.9685, 202.799, 201.6295, 143.5532, 35.2776, 76.6632, 160.4135, 212.4507,
        104.1751, 160.6647, 197.6309, 196.4614, 99.0363, 100.6873, 15.537, 99.2874, 183.0378,
        169.5848, 99.5385, 183.2889, 191.2934, 37.9101, 121.6605, 83.1417, 104.0011, 121.9116,
        205.662, 126.7189, 122.1628, 186.1253, 88.7823, 60.5344, 144.2847, 228.0351, 157.6798,
        144.5359, 192.1286, 83.8529, 144.787,
    ];
    // fill_mode='constant', cval=7.5: theta=-23.0, tx=-0.7, ty=1.6, shear=-12.0, zx=1.1, zy=0.9
    const CONSTANT: [f32; 189] = [
        7.5, 7.5, 7.5, 108.7814, 202.2253, 80.5639, 180.3106, 52.3465, 158.3959, 7.5, 7.5,
        172.4333, 141.2967, 144.2158, 119.382, 115.9984, 97.4674, 87.7809, 7.5, 7.5, 96.4765,
        194.9108, 68.259, 172.9962, 40.0416, 151.0815, 14.6241, 7.5, 160.1284, 133.9823, 131.9109,
        112.0676, 103.6935, 90.1529, 75.476, 68.2382, 7.5, 7.5, 7.5, 55.9541, 165.6817, 29.2244,
        141.2476, 13.9013, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5, 82.8385, 197.3811, 147.7822, 7.5, 7.5,
        7.5, 7.5, 7.5, 7.5, 7.5, 238.2143, 7.5, 7.5, 7.5, 7.5, 7.5, 124.6826, 239.2253, 116.6431,
        217.3106, 89.3465, 195.3959, 7.5, 7.5, 63.7541, 178.2967, 181.2158, 156.382, 152.9984,
        134.4674, 124.7809, 7.5, 7.5, 117.3682, 231.9108, 105.259, 209.9962, 77.0416, 188.0815,
        51.6241, 7.5, 56.4396, 170.9823, 168.9109, 149.0676, 140.6935, 127.1529, 112.476, 105.2382,
        7.5, 7.5, 7.5, 92.9541, 202.6817, 66.2243, 176.1279, 44.3097, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5,
        119.8385, 100.1711, 97.9238, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5, 36.9952, 7.5, 7.5, 7.5,
        7.5, 7.5, 161.6826, 43.1726, 139.7679, 14.9552, 117.8533, 232.3959, 7.5, 7.5, 100.7541,
        106.8245, 78.8394, 78.6071, 56.9247, 171.4674, 161.7809, 7.5, 7.5, 154.3681, 30.8677,
        132.4535, 103.3788, 110.5388, 225.0815, 88.6241, 7.5, 93.4396, 94.5196, 71.5249, 186.0676,
        177.6935, 164.1529, 149.476, 142.2382, 7.5, 7.5, 7.5, 125.139, 239.6817, 103.2243,
        213.1279, 81.3097, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5, 156.8385, 137.1711, 134.9238, 7.5, 7.5,
        7.5, 7.5, 7.5, 7.5, 7.5, 73.9952, 7.5, 7.5,
    ];
    // fill_mode='reflect', cval=0.0: theta=35.0, tx=2.4, ty=0.5, shear=15.0, zx=1.3, zy=1.25
    const REFLECT: [f32; 189] = [
        86.256, 105.4509, 64.2068, 122.1389, 54.6637, 98.9221, 61.8, 132.8844, 70.4385, 137.3052,
        90.4253, 82.6773, 68.3761, 114.3932, 183.34, 164.0712, 43.9308, 146.2062, 116.6438,
        114.5316, 94.5946, 86.6329, 151.6603, 106.6476, 215.4573, 151.0284, 36.553, 146.3859,
        120.8131, 91.758, 98.7639, 213.2393, 137.6861, 106.0981, 235.3116, 139.9393, 147.0316,
        123.6123, 124.9824, 68.9845, 105.5923, 225.1832, 127.0422, 113.8438, 7.0851, 155.4666,
        151.2009, 100.8387, 132.0999, 54.5638, 122.9119, 54.7319, 115.7757, 116.4713, 225.2191,
        132.693, 158.6076, 86.9965, 149.7088, 47.2816, 142.5726, 13.5045, 125.6069, 123.256,
        142.4509, 101.2068, 159.1389, 91.6637, 130.1696, 98.8, 169.8844, 107.4385, 174.3052,
        127.4253, 119.6773, 105.3761, 151.3932, 72.0031, 137.4518, 80.9308, 183.2062, 153.6438,
        151.5316, 131.5946, 96.9038, 109.5454, 143.6476, 54.4231, 151.3519, 73.553, 183.3859,
        157.8131, 128.758, 135.7639, 74.1302, 116.0846, 143.0981, 47.3345, 174.1255, 184.0316,
        160.6123, 161.9824, 105.9845, 142.5923, 59.1312, 133.1151, 150.8438, 44.0851, 73.7255,
        188.2009, 137.8387, 169.0999, 91.5638, 159.9119, 51.849, 152.7757, 153.4713, 11.2191,
        77.8949, 195.6076, 123.9965, 186.7088, 84.2816, 179.5726, 50.5045, 162.6069, 160.256,
        179.4509, 138.2068, 196.1389, 128.6637, 167.1696, 135.8, 206.8844, 144.4385, 49.9499,
        164.4253, 156.6773, 142.3761, 188.3932, 109.0031, 174.4518, 117.9308, 220.2062, 90.3455,
        54.1192, 168.5946, 133.9038, 146.5454, 180.6476, 91.4231, 188.3519, 110.553, 80.3377,
        130.0952, 165.758, 172.7639, 111.1302, 153.0846, 180.0981, 84.3345, 211.1255, 99.4262,
        84.507, 198.9824, 142.9845, 179.5923, 96.1312, 170.1151, 187.8438, 81.0851, 110.7255,
        76.6527, 88.6763, 206.0999, 128.5638, 196.9119, 88.849, 189.7757, 190.4713, 48.2191,
        114.8949, 57.1165, 101.7769, 223.7088, 121.2816, 216.5726, 87.5045, 199.6069,
    ];
    // fill_mode='wrap', cval=0.0: theta=-40.0, tx=-1.8, ty=-2.7, shear=-8.0, zx=1.2, zy=0.85
    const WRAP: [f32; 189] = [
        122.2018, 127.9821, 123.5243, 88.7697, 124.8468, 221.0081, 212.1694, 96.3451, 202.239,
        89.3601, 157.085, 50.1478, 156.0417, 33.5688, 129.7301, 120.8913, 163.617, 122.2138,
        156.632, 65.807, 117.4197, 67.1295, 78.2074, 104.3901, 124.9951, 155.7745, 85.7828,
        99.3677, 78.7978, 100.6902, 39.5855, 218.0127, 116.3732, 219.3353, 64.4965, 153.0547,
        40.1758, 141.7132, 9.4122, 106.8574, 126.7347, 183.6451, 128.0572, 144.4328, 99.3797,
        107.4478, 213.3416, 111.5012, 160.2954, 145.0231, 161.6179, 105.8108, 162.9404, 36.5985,
        106.5336, 202.6948, 193.8561, 106.4012, 195.1786, 70.3399, 173.0827, 71.6624, 133.8704,
        159.2018, 164.9821, 160.5243, 125.7697, 161.8468, 56.5574, 27.4513, 133.3451, 239.239,
        126.3601, 194.085, 87.1478, 193.0417, 70.5688, 123.8293, 94.7232, 200.617, 159.2138,
        193.632, 102.807, 154.4197, 104.1295, 115.2074, 86.1013, 161.9951, 192.7745, 122.7828,
        136.3677, 115.7978, 137.6902, 76.5855, 47.4793, 130.174, 8.267, 101.4965, 190.0547,
        77.1758, 171.2509, 46.4122, 143.8574, 114.7512, 138.1323, 75.5389, 181.4328, 136.3797,
        144.4478, 79.9729, 105.2355, 76.1293, 182.0231, 198.6179, 142.8108, 199.9404, 73.5985,
        143.5336, 66.6135, 37.5074, 143.4012, 232.1786, 107.3399, 210.0827, 108.6624, 170.8704,
        96.0882, 71.3631, 56.8759, 162.7697, 198.8468, 93.5574, 64.4513, 161.3306, 36.4919,
        145.6218, 18.254, 124.1478, 230.0417, 107.5688, 160.8293, 131.7232, 70.0526, 92.5109,
        230.632, 112.3335, 191.4197, 141.1295, 152.2074, 123.1013, 103.6133, 53.889, 159.7828,
        173.3677, 152.7978, 174.6902, 113.5855, 84.4793, 167.174, 45.267, 121.1609, 227.0547,
        114.1758, 208.2509, 83.4122, 180.8574, 151.7512, 75.8959, 112.5389, 77.2185, 173.3797,
        181.4478, 116.9729, 142.2354, 113.1293, 109.4566, 73.917, 110.7792, 34.7047, 110.5985,
        180.5336, 103.6135, 74.5074, 143.0173, 35.295, 141.1889, 19.5011, 101.9766, 207.8704,
    ];
    // fill_mode='nearest', cval=0.0: theta=11.0, tx=0.6, ty=-1.2, shear=5.0, zx=0.9, zy=1.05, flip_horizontal=True, flip_vertical=True, channel_shift_intensity=40.0, brightness=1.3
    const FULL_BRIGHTER: [f32; 189] = [
        252.0, 255.0, 213.0, 87.0, 246.0, 159.0, 244.0, 233.0, 241.0, 201.0, 254.0, 230.0, 135.0,
        200.0, 208.0, 197.0, 255.0, 195.0, 202.0, 109.0, 157.0, 183.0, 154.0, 255.0, 152.0, 255.0,
        204.0, 209.0, 158.0, 110.0, 231.0, 107.0, 255.0, 179.0, 255.0, 252.0, 215.0, 206.0, 80.0,
        226.0, 153.0, 223.0, 227.0, 220.0, 255.0, 222.0, 223.0, 128.0, 180.0, 201.0, 176.0, 255.0,
        172.0, 255.0, 227.0, 227.0, 172.0, 130.0, 244.0, 124.0, 255.0, 188.0, 255.0, 187.0, 135.0,
        255.0, 135.0, 255.0, 208.0, 255.0, 255.0, 156.0, 235.0, 109.0, 250.0, 183.0, 248.0, 255.0,
        245.0, 255.0, 204.0, 250.0, 157.0, 205.0, 231.0, 202.0, 255.0, 200.0, 255.0, 252.0, 255.0,
        206.0, 158.0, 255.0, 156.0, 255.0, 227.0, 226.0, 213.0, 255.0, 254.0, 128.0, 255.0, 201.0,
        255.0, 255.0, 149.0, 105.0, 255.0, 255.0, 176.0, 228.0, 249.0, 224.0, 255.0, 195.0, 66.0,
        255.0, 255.0, 220.0, 178.0, 255.0, 172.0, 255.0, 236.0, 109.0, 235.0, 183.0, 255.0, 183.0,
        255.0, 255.0, 130.0, 175.0, 204.0, 255.0, 157.0, 255.0, 231.0, 255.0, 255.0, 178.0, 130.0,
        252.0, 255.0, 205.0, 253.0, 255.0, 163.0, 85.0, 226.0, 100.0, 245.0, 255.0, 254.0, 206.0,
        255.0, 201.0, 75.0, 201.0, 148.0, 198.0, 255.0, 255.0, 176.0, 255.0, 249.0, 123.0, 156.0,
        197.0, 153.0, 255.0, 255.0, 224.0, 255.0, 255.0, 171.0, 107.0, 243.0, 114.0, 255.0, 255.0,
        255.0, 226.0, 255.0, 213.0, 85.0, 215.0, 157.0,
    ];
    // fill_mode='constant', cval=0.0: theta=-7.0, tx=-1.1, ty=0.4, shear=-6.0, zx=1.05, zy=0.95, flip_horizontal=True, channel_shift_intensity=-25.0, brightness=0.6
    const FULL_DARKER: [f32; 189] = [
        56.0, 33.0, 79.0, 44.0, 103.0, 55.0, 121.0, 0.0, 0.0, 35.0, 45.0, 59.0, 55.0, 82.0, 67.0,
        106.0, 0.0, 0.0, 15.0, 56.0, 38.0, 67.0, 62.0, 78.0, 85.0, 0.0, 0.0, 0.0, 67.0, 18.0, 79.0,
        41.0, 90.0, 65.0, 0.0, 0.0, 0.0, 60.0, 9.0, 84.0, 21.0, 101.0, 44.0, 0.0, 0.0, 86.0, 88.0,
        21.0, 63.0, 31.0, 87.0, 43.0, 111.0, 0.0, 82.0, 102.0, 32.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        78.0, 55.0, 102.0, 66.0, 0.0, 62.0, 7.0, 0.0, 0.0, 57.0, 67.0, 81.0, 78.0, 69.0, 77.0,
        19.0, 0.0, 0.0, 37.0, 78.0, 60.0, 90.0, 84.0, 100.0, 31.0, 0.0, 0.0, 16.0, 90.0, 40.0,
        101.0, 63.0, 112.0, 42.0, 0.0, 0.0, 21.0, 82.0, 31.0, 106.0, 43.0, 123.0, 54.0, 0.0, 0.0,
        32.0, 61.0, 43.0, 85.0, 54.0, 109.0, 65.0, 0.0, 0.0, 43.0, 41.0, 54.0, 0.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 100.0, 78.0, 8.0, 61.0, 19.0, 84.0, 30.0, 0.0, 0.0, 79.0, 89.0, 19.0, 40.0, 30.0,
        64.0, 41.0, 0.0, 0.0, 59.0, 100.0, 31.0, 19.0, 42.0, 43.0, 53.0, 0.0, 0.0, 38.0, 112.0,
        46.0, 42.0, 53.0, 22.0, 64.0, 0.0, 0.0, 43.0, 105.0, 54.0, 128.0, 64.0, 1.0, 76.0, 0.0,
        0.0, 54.0, 84.0, 65.0, 108.0, 76.0, 6.0, 68.0, 18.0, 0.0, 66.0, 63.0, 76.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 0.0,
    ];
    // fill_mode='constant', cval=300.0: theta=25.0, tx=0.0, ty=0.0, shear=0.0, zx=1.0, zy=1.0, flip_vertical=True, brightness=0.8
    const FULL_OUT_OF_RANGE: [f32; 189] = [
        242.6213, 143.6149, 90.7364, 139.1146, 242.6213, 242.6213, 242.6213, 242.6213, 242.6213,
        242.6213, 100.8621, 132.3641, 95.2367, 89.6114, 89.6114, 242.6213, 242.6213, 242.6213,
        160.491, 94.1116, 154.8656, 51.3589, 130.114, 45.7335, 86.2361, 166.1163, 242.6213,
        116.6131, 135.7393, 110.9877, 92.9866, 105.3624, 49.1087, 109.8627, 155.9907, 94.1116,
        98.6119, 170.6166, 67.1099, 133.4892, 61.4845, 89.6114, 55.8592, 46.8586, 242.6213,
        139.1146, 126.7388, 96.3618, 121.1134, 53.609, 115.488, 13.1064, 88.4863, 242.6213,
        242.6213, 242.6213, 242.6213, 77.2356, 94.1116, 71.6102, 50.2338, 242.6213, 242.6213,
        242.6213, 41.2332, 121.1134, 168.3665, 242.6213, 242.6213, 242.6213, 242.6213, 242.6213,
        242.6213, 82.8609, 161.616, 124.4886, 118.8633, 118.8633, 242.6213, 242.6213, 242.6213,
        44.6084, 124.4886, 184.1175, 80.6108, 159.3659, 76.1105, 116.6131, 69.36, 242.6213,
        86.2361, 166.1163, 140.2396, 122.2385, 134.6143, 79.4857, 130.114, 35.6079, 114.363,
        103.1122, 71.6102, 94.1116, 162.7411, 90.7364, 119.9883, 85.1111, 76.1105, 242.6213,
        58.1093, 46.8586, 125.6137, 150.3653, 81.7358, 144.7399, 41.2332, 117.7382, 242.6213,
        242.6213, 242.6213, 242.6213, 107.6125, 123.3635, 100.8621, 80.6108, 242.6213, 242.6213,
        242.6213, 71.6102, 99.737, 27.7323, 242.6213, 242.6213, 242.6213, 242.6213, 242.6213,
        242.6213, 112.1128, 56.9842, 69.36, 148.1151, 148.1151, 242.6213, 242.6213, 242.6213,
        74.9854, 116.6131, 31.1076, 110.9877, 188.6178, 105.3624, 145.865, 98.6119, 242.6213,
        116.6131, 71.6102, 72.7353, 74.9854, 98.6119, 107.6125, 158.2408, 64.8598, 143.6149,
        131.2391, 35.6079, 114.363, 23.2321, 71.6102, 149.2402, 115.488, 106.4874, 242.6213,
        88.4863, 76.1105, 82.8609, 33.3577, 112.1128, 175.1169, 71.6102, 148.1151, 242.6213,
        242.6213, 242.6213, 242.6213, 74.9854, 152.6154, 130.114, 109.8627, 242.6213, 242.6213,
    ];
}
