//! `runner predict`: a run's trained model over images, rows written batch by batch.

use anyhow::Result;

use super::run::select_device;
use crate::inference::load_trained;
use crate::predict::{PredictOptions, PredictionWriter, image_paths, predict_in_batches};
use crate::progress::Activity;
use runner_core::commands::libtorch::{PredictArgs, Tta};
use runner_core::store::Store;

pub fn exec(args: PredictArgs, store: &Store) -> Result<()> {
    let record = store.find_run(&args.run)?;
    let images = image_paths(&args.paths)?;
    let (device, _) = select_device(args.device)?;
    let model = load_trained(store, &record, &device)?;
    let mut writer = PredictionWriter::new(args.format, &model.classes, std::io::stdout().lock())?;
    let activity = Activity::of_command(args.quiet);
    let options = PredictOptions {
        batch_size: args
            .batch_size
            .map_or(model.pipeline.spec.data.batch_size, |size| size as usize),
        flip: args.tta == Some(Tta::Flip),
        activity: &activity,
    };
    predict_in_batches(&model, &images, &device, &options, |batch| {
        writer.write(batch)
    })?;
    Ok(())
}
