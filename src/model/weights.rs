//! Loading pretrained weights into a backbone, with errors that name the file and the tensor.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use burn::prelude::*;
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, ModuleStore, PytorchStore};

use crate::bail_input;
use crate::spec::Arch;

/// A missing weights file is an error that says where the architecture's weights come from.
pub fn check_exists(file: &Path, arch: Arch) -> Result<()> {
    if !file.is_file() {
        bail_input!(
            "the weights file `{}` does not exist: {}",
            file.display(),
            arch.weights_source()
        );
    }
    Ok(())
}

/// What is done with a weights file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightsUse {
    /// Its tensors are read into the network.
    Load,
    /// Only the names and shapes it declares are compared with the network's: no tensor
    /// data is read (`runner validate`).
    CheckShapes,
}

/// Loads a PyTorch `.pth` state dict into `module`, renaming keys by `remapping`, or only
/// checks it. Every tensor of the module must be in the file with the right shape; extra
/// tensors (such as BatchNorm's `num_batches_tracked`) are ignored. The shapes the file
/// declares are compared with the module's before any tensor is read: a file whose
/// tensor claims billions of values (a stride-0 view of a tiny storage, say) is refused
/// instead of materialized.
pub fn load_pytorch<M: Module>(
    module: &mut M,
    file: &Path,
    remapping: &[(&str, &str)],
    arch: Arch,
    usage: WeightsUse,
) -> Result<()> {
    check_exists(file, arch)?;
    let mut store = remapping
        .iter()
        .fold(PytorchStore::from_file(file), |store, (from, to)| {
            store.with_key_remapping(*from, *to)
        })
        .allow_partial(true);
    check_declared_shapes(module, &mut store, file, arch)?;
    if usage == WeightsUse::CheckShapes {
        return Ok(());
    }
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
    tracing::debug!(
        applied = result.applied.len(),
        unused = result.unused.len(),
        "loaded {}",
        file.display()
    );
    Ok(())
}

/// Compares the tensors `store`'s file declares (its pickle only) with the ones `module`
/// has, named and shaped as burn-store's PyTorch adapter names them when it loads.
fn check_declared_shapes<M: Module>(
    module: &M,
    store: &mut PytorchStore,
    file: &Path,
    arch: Arch,
) -> Result<()> {
    let unreadable = |reason: String| {
        crate::error::input_error(format!(
            "cannot read `{}` as PyTorch weights for {}: {reason}",
            file.display(),
            arch.name()
        ))
    };
    let declared: BTreeMap<String, Vec<usize>> =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.get_all_tensors().map(|tensors| {
                tensors
                    .iter()
                    .map(|(name, tensor)| (name.clone(), tensor.shape.to_vec()))
                    .collect()
            })
        }))
        .map_err(|_| unreadable("the file is corrupt or truncated".into()))?
        .map_err(|err| unreadable(err.to_string()))?;
    // The store loads with skip_enum_variants, so the module's names are collected so too.
    let needed = module.collect(None, Some(Box::new(BurnToPyTorchAdapter)), true);
    let mut missing = Vec::new();
    for tensor in &needed {
        let shape = tensor.shape.to_vec();
        match declared.get(&tensor.name) {
            None => missing.push(tensor.name.as_str()),
            Some(found) if *found != shape => bail_input!(
                "`{}` does not fit {}: its tensor `{}` has shape {found:?}, the network needs {shape:?}",
                file.display(),
                arch.name(),
                tensor.name
            ),
            Some(_) => {}
        }
    }
    if !missing.is_empty() {
        bail_input!(
            "`{}` is not a {} weights file: {} tensors are missing, such as {}",
            file.display(),
            arch.name(),
            missing.len(),
            missing[..missing.len().min(5)].join(", ")
        );
    }
    Ok(())
}
