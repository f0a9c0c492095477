//! Loading pretrained weights into a backbone, with errors that name the file and the tensor.

use std::path::Path;

use anyhow::Result;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, PytorchStore};

use crate::bail_input;

/// A missing weights file is an error that says where the architecture's weights come from.
pub fn check_exists(file: &Path, arch: crate::spec::Arch) -> Result<()> {
    if !file.is_file() {
        bail_input!(
            "the weights file `{}` does not exist: {}",
            file.display(),
            arch.weights_source()
        );
    }
    Ok(())
}

/// Loads a PyTorch `.pth` state dict into `module`, renaming keys by `remapping`. Every
/// tensor of the module must be in the file with the right shape; extra tensors (such as
/// BatchNorm's `num_batches_tracked`) are ignored.
pub fn load_pytorch<M: Module>(
    module: &mut M,
    file: &Path,
    remapping: &[(&str, &str)],
    arch: crate::spec::Arch,
) -> Result<()> {
    check_exists(file, arch)?;
    let mut store = remapping
        .iter()
        .fold(PytorchStore::from_file(file), |store, (from, to)| {
            store.with_key_remapping(*from, *to)
        })
        .allow_partial(true);
    // A reader that meets a truncated or hostile file may panic; that is still bad input.
    let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        module.load_from(&mut store)
    }));
    let result = match loaded {
        Ok(Ok(result)) => result,
        Ok(Err(err)) => bail_input!(
            "cannot read `{}` as PyTorch weights for {}: {err}",
            file.display(),
            arch.name()
        ),
        Err(_) => bail_input!(
            "cannot read `{}` as PyTorch weights for {}: the file is corrupt or truncated",
            file.display(),
            arch.name()
        ),
    };
    if let Some(error) = result.errors.first() {
        bail_input!("`{}` does not fit {}: {error}", file.display(), arch.name());
    }
    if !result.missing.is_empty() {
        let missing: Vec<&str> = result
            .missing
            .iter()
            .take(5)
            .map(|(path, _)| path.as_str())
            .collect();
        bail_input!(
            "`{}` is not a {} weights file: {} tensors are missing, such as {}",
            file.display(),
            arch.name(),
            result.missing.len(),
            missing.join(", ")
        );
    }
    tracing::debug!(
        applied = result.applied.len(),
        unused = result.unused.len(),
        "loaded {}",
        file.display()
    );
    Ok(())
}
