//! Runs a pretrained backbone on images and writes every layer's output, for checking the
//! runner against a reference implementation (`bench/parity/`).
//!
//!     cargo run --example backbone_features -- ARCH WEIGHTS IMAGES N H W OUT [--fold] [--logits]
//!
//! IMAGES holds N x H x W x 3 pixel values (0 to 255) as little-endian f32, the layout of
//! numpy's `tofile`. The runner's preprocessing for ARCH is applied. Each layer's output is
//! written to OUT/NAME.f32 as N x C x H x W f32, and `NAME C H W` is printed. `--fold` runs
//! the layers with BatchNorm folded into the convolutions, as a frozen backbone runs;
//! `--logits` also writes the ImageNet classifier's logits to OUT/logits.f32 (N x 1000).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::prelude::*;
use runner::model::{Network, build_backbone, channels_last};
use runner::spec::{Arch, BackboneSpec, FreezeKeyword, FreezeSpec, LayerPlan};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|arg| arg == name);
    let (fold, logits) = (flag("--fold"), flag("--logits"));
    let args: Vec<&String> = args.iter().filter(|arg| !arg.starts_with("--")).collect();
    let [arch, weights, images, count, height, width, out] = args.as_slice() else {
        bail!("usage: backbone_features ARCH WEIGHTS IMAGES N H W OUT [--fold] [--logits]");
    };
    let arch: Arch = serde_json::from_value(serde_json::Value::String((*arch).clone()))
        .with_context(|| format!("unknown architecture `{arch}`"))?;
    let [count, height, width] = [count, height, width].map(|value| value.parse::<usize>());
    let (count, height, width) = (count?, height?, width?);
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)?;

    let device = runner::device::cpu();
    let spec = BackboneSpec {
        arch,
        weights: PathBuf::from(weights),
        cut: None,
        freeze: FreezeSpec::Keyword(FreezeKeyword::All),
        batchnorm: Default::default(),
        precision: Default::default(),
    };
    let backbone = build_backbone(&spec, &LayerPlan::of(&spec)?, &device)?;

    let bytes = std::fs::read(images).with_context(|| format!("reading {images}"))?;
    let pixels: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes(chunk.try_into().expect("4 bytes")))
        .collect();
    if pixels.len() != count * height * width * 3 {
        bail!(
            "{images} holds {} values, not {count} x {height} x {width} x 3",
            pixels.len()
        );
    }
    let preprocess = backbone.preprocess;
    let scale = Tensor::<1>::from_floats(preprocess.scale, &device).reshape([1, 3, 1, 1]);
    let offset = Tensor::<1>::from_floats(preprocess.offset, &device).reshape([1, 3, 1, 1]);
    let input = Tensor::<4>::from_data(TensorData::new(pixels, [count, height, width, 3]), &device)
        .permute([0, 3, 1, 2])
        * scale
        + offset;

    // The frozen path also stores its activations channels-last, as FrozenFeatures does.
    let mut x = if fold {
        channels_last(input.clone())
    } else {
        input.clone()
    };
    for (name, layer) in backbone.layers {
        let layer = if fold { layer.fold_batchnorm() } else { layer };
        x = layer.forward(x);
        let [_, channels, rows, columns] = x.dims();
        write(&out, &name, x.clone().into_data())?;
        println!("{name} {channels} {rows} {columns}");
    }
    if logits {
        let logits = Network::load(arch, spec.weights_file(), &device)?.forward_classifier(input);
        let [_, classes] = logits.dims();
        write(&out, "logits", logits.into_data())?;
        println!("logits {classes}");
    }
    Ok(())
}

fn write(out: &Path, name: &str, data: TensorData) -> Result<()> {
    let values = data
        .try_to_vec::<f32>()
        .map_err(|err| anyhow::anyhow!("{err:?}"))?;
    let bytes: Vec<u8> = values
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect();
    std::fs::write(out.join(format!("{name}.f32")), bytes)?;
    Ok(())
}
