//! `runner inspect`: where a run's model goes wrong on its validation images, as fastai's
//! `ClassificationInterpretation` shows it: the confusion matrix, precision, recall and F1
//! per class, and the images with the highest loss, all from the run's best checkpoint.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use runner_image::decode_resized;
use serde::Serialize;
use serde_json::json;

use super::run::select_device;
use crate::inference::{Prediction, load_trained, validation_images};
use crate::predict::{PredictOptions, predict_in_batches};
use crate::progress::Activity;
use crate::train::RunningMetrics;
use runner_core::commands::Format;
use runner_core::commands::libtorch::InspectArgs;
use runner_core::report::escape_text;
use runner_core::report::inspect::{Tile, draw_confusion_matrix, draw_grid};
use runner_core::store::{Store, TopLoss};

/// Keras' crossentropy clips probabilities to [1e-7, 1 - 1e-7] before the logarithm.
const EPSILON: f64 = 1e-7;
/// The longest side of a tile in the grid of highest losses.
const TILE_SIDE: u32 = 192;

#[derive(Serialize)]
struct ClassFigures {
    class: String,
    precision: f64,
    recall: f64,
    f1: f64,
    /// Validation images of the class.
    support: usize,
}

pub fn exec(args: InspectArgs, store: &Store) -> Result<()> {
    let record = store.find_run(&args.run)?;
    let (device, device_label) = select_device(args.device)?;
    let model = load_trained(store, &record, &device)?;
    let validation = validation_images(store, &record, &model, device_label.starts_with("cuda"))?;
    let (paths, labels): (Vec<PathBuf>, Vec<u32>) = validation.into_iter().unzip();

    let activity = Activity::of_command(args.quiet);
    let options = PredictOptions {
        batch_size: model.pipeline.spec.data.batch_size,
        flip: false,
        activity: &activity,
    };
    let mut predictions: Vec<Prediction> = Vec::with_capacity(paths.len());
    predict_in_batches(&model, &paths, &device, &options, |batch| {
        predictions.extend_from_slice(batch);
        Ok(())
    })?;

    let classes = &model.classes;
    let losses = losses(&predictions, &labels, classes);
    let predicted: Vec<u32> = predictions
        .iter()
        .map(|prediction| {
            let index = classes.iter().position(|class| *class == prediction.class);
            index
                .and_then(|index| u32::try_from(index).ok())
                .unwrap_or(0)
        })
        .collect();
    let mean_loss = losses.iter().map(|loss| loss.loss).sum::<f64>() / losses.len().max(1) as f64;
    let mut metrics = RunningMetrics::new(classes.len());
    metrics.add_batch(mean_loss, &predicted, &labels, &[]);
    let confusion = metrics.confusion_matrix();
    let per_class: Vec<ClassFigures> = classes
        .iter()
        .enumerate()
        .map(|(index, class)| ClassFigures {
            class: class.clone(),
            precision: metrics.precision(index),
            recall: metrics.recall(index),
            f1: metrics.f1(index),
            support: confusion[index].iter().sum(),
        })
        .collect();
    let mut highest = losses;
    highest.sort_by(|a, b| b.loss.total_cmp(&a.loss));
    highest.truncate(args.top as usize);

    // Kept with the run, for `runner ui`'s run page.
    store.record_top_losses(&record.id, &highest)?;
    std::fs::create_dir_all(&args.out).map_err(|err| {
        crate::error::input_error(format!("cannot create `{}`: {err}", args.out.display()))
    })?;
    let files = [
        "confusion_matrix.png",
        "per_class.csv",
        "top_losses.png",
        "inspect.json",
    ]
    .map(|name| args.out.join(name));
    draw_confusion_matrix(classes, confusion, &files[0])?;
    write_per_class(&per_class, &files[1])?;
    let limits = model.pipeline.spec.data.image_limits();
    let tiles = highest
        .iter()
        .map(|loss| tile(loss, model.pipeline.spec.data.image_size, limits))
        .collect::<Result<Vec<_>>>()?;
    draw_grid(&tiles, 4, &files[2])?;
    let report = json!({
        "run": record.id,
        "checkpoint": model.checkpoint,
        "images": predictions.len(),
        "accuracy": metrics.accuracy(),
        "loss": mean_loss,
        "classes": classes,
        "confusion_matrix": confusion,
        "per_class": per_class,
        "top_losses": highest,
        "files": files,
    });
    std::fs::write(&files[3], serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("cannot write `{}`", files[3].display()))?;

    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Format::Table => print_table(&record.id, &report, &per_class, &highest, &args.out),
    }
    Ok(())
}

/// Each image's loss from its true class's probability.
fn losses(predictions: &[Prediction], labels: &[u32], classes: &[String]) -> Vec<TopLoss> {
    predictions
        .iter()
        .zip(labels)
        .map(|(prediction, &label)| {
            let true_probability = prediction.probabilities[label as usize];
            TopLoss {
                image: prediction.image.clone(),
                true_class: classes[label as usize].clone(),
                predicted: prediction.class.clone(),
                probability: prediction.probability,
                true_probability,
                loss: -true_probability.clamp(EPSILON, 1.0 - EPSILON).ln(),
            }
        })
        .collect()
}

fn write_per_class(per_class: &[ClassFigures], out: &Path) -> Result<()> {
    let mut writer =
        csv::Writer::from_path(out).with_context(|| format!("cannot write `{}`", out.display()))?;
    for figures in per_class {
        writer.serialize(figures)?;
    }
    writer.flush()?;
    Ok(())
}

/// The image of `loss` at most [`TILE_SIDE`] pixels on its longer side (in the pipeline's
/// aspect ratio), captioned with its classes.
fn tile(
    loss: &TopLoss,
    [height, width]: [u32; 2],
    limits: runner_core::spec::ImageLimits,
) -> Result<Tile> {
    let scale = f64::from(TILE_SIDE) / f64::from(height.max(width));
    let scale = scale.min(1.0);
    let (tile_width, tile_height) = (
        ((f64::from(width) * scale) as u32).max(1),
        ((f64::from(height) * scale) as u32).max(1),
    );
    let pixels = decode_resized(Path::new(&loss.image), tile_width, tile_height, limits)
        .map_err(|reason| crate::error::input_error(format!("`{}`: {reason}", loss.image)))?;
    let name = Path::new(&loss.image).file_name().map_or_else(
        || loss.image.clone(),
        |name| name.to_string_lossy().into_owned(),
    );
    Ok(Tile {
        pixels,
        width: tile_width,
        height: tile_height,
        caption: [
            format!("{} ({:.3})", name, loss.loss),
            format!(
                "{} -> {} {:.2}",
                loss.true_class, loss.predicted, loss.probability
            ),
        ],
    })
}

fn print_table(
    run: &str,
    report: &serde_json::Value,
    per_class: &[ClassFigures],
    highest: &[TopLoss],
    out: &Path,
) {
    println!(
        "run {run}: {} validation images, accuracy {:.4}, loss {:.4}",
        report["images"],
        report["accuracy"].as_f64().unwrap_or_default(),
        report["loss"].as_f64().unwrap_or_default()
    );
    println!(
        "\n{:<20} {:>9} {:>9} {:>9} {:>8}",
        "class", "precision", "recall", "f1", "support"
    );
    for figures in per_class {
        println!(
            "{:<20} {:>9.4} {:>9.4} {:>9.4} {:>8}",
            escape_text(&figures.class),
            figures.precision,
            figures.recall,
            figures.f1,
            figures.support
        );
    }
    println!("\nhighest losses:");
    for loss in highest {
        println!(
            "  {:.4}  {} (true {}, predicted {} {:.3})",
            loss.loss,
            escape_text(&loss.image),
            escape_text(&loss.true_class),
            escape_text(&loss.predicted),
            loss.probability
        );
    }
    println!(
        "\nwrote confusion_matrix.png, per_class.csv, top_losses.png and inspect.json in {}",
        out.display()
    );
}
