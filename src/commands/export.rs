//! `runner export`: a run's trained model as ONNX or safetensors, with a JSON file beside it
//! that says what goes in and comes out; `--check` runs the ONNX file in ONNX Runtime.

use anyhow::{Context, Result};
use serde_json::json;

use crate::bail_input;
use crate::inference::{
    TrainedModel, export_metadata, export_safetensors, load_trained, validation_images,
};
use crate::onnx::{CheckReport, INPUT, LOGITS, PROBABILITIES, check_onnx, export_onnx};
use crate::progress::Activity;
use crate::spec::Precision;
use runner_core::commands::libtorch::{ExportArgs, ExportFormat};
use runner_core::store::{RunRecord, Store};

pub fn exec(args: ExportArgs, store: &Store) -> Result<()> {
    let Some(format) = args.format.or_else(|| ExportFormat::of_file(&args.out)) else {
        bail_input!(
            "`--out {}`: give --format onnx or --format safetensors, or end the file name in .onnx or .safetensors",
            args.out.display()
        );
    };
    if args.check && format != ExportFormat::Onnx {
        bail_input!("--check runs the exported model in ONNX Runtime: it needs --format onnx");
    }
    let record = store.find_run(&args.run)?;
    let model = load_trained(store, &record, &crate::device::cpu())?;
    let mut metadata = export_metadata(&model, &record);
    metadata.insert("format".into(), format.name().into());
    match format {
        ExportFormat::Safetensors => {
            export_safetensors(&model, &args.out)?;
            metadata.insert(
                "weights".into(),
                json!({
                    "batchnorm": "folded into the convolutions of the frozen layers (frozen.*)",
                    "output": "the last dense layer's logits; apply the output activation for probabilities",
                }),
            );
        }
        ExportFormat::Onnx => {
            export_onnx(&model, &record.id, &args.out)?;
            let [height, width] = model.pipeline.spec.data.image_size;
            metadata.insert(
                "onnx".into(),
                json!({
                    "opset": crate::onnx::OPSET,
                    "input": {
                        "name": INPUT,
                        "shape": ["batch", 3, height, width],
                        "values": "float32 RGB pixel values 0-255, resized as `resize` says; the preprocessing is inside the graph",
                    },
                    "outputs": {
                        LOGITS: "the last dense layer before its activation",
                        PROBABILITIES: "each class's probability, in the order of `classes`",
                    },
                    "batchnorm": "folded into the convolutions",
                }),
            );
        }
    }
    let metadata_path = args.out.with_extension("json");
    let mut outcome = Ok(());
    if args.check {
        let activity = Activity::of_command(args.quiet);
        let images = validation_images(store, &record, &model, false)?;
        let report = check_onnx(&model, &args.out, &images, &activity)?;
        let recorded = recorded_accuracy(&record);
        println!("{}", check_summary(&report, recorded));
        outcome = check_outcome(&model, &report);
        metadata.insert(
            "onnxruntime_check".into(),
            json!({ "report": report, "recorded_accuracy": recorded, "passed": outcome.is_ok() }),
        );
    }
    std::fs::write(&metadata_path, serde_json::to_string_pretty(&metadata)?)
        .with_context(|| format!("cannot write `{}`", metadata_path.display()))?;
    eprintln!(
        "wrote {} and {}",
        args.out.display(),
        metadata_path.display()
    );
    outcome
}

/// The accuracy the run recorded at its best checkpoint: its confusion matrix's diagonal.
fn recorded_accuracy(run: &RunRecord) -> Option<f64> {
    let matrix = &run.confusion_matrix;
    let total: usize = matrix.iter().flatten().sum();
    let correct: usize = (0..matrix.len())
        .map(|row| matrix[row].get(row).copied().unwrap_or(0))
        .sum();
    (total > 0).then(|| correct as f64 / total as f64)
}

fn check_summary(report: &CheckReport, recorded: Option<f64>) -> String {
    let recorded = recorded.map_or_else(String::new, |accuracy| {
        format!(", recorded at the best checkpoint {accuracy:.4}")
    });
    format!(
        "onnxruntime ({}): {} validation images, accuracy {:.4} (runner {:.4}{recorded}); {} predictions differ; max |probability difference| {:.2e} (tolerance {:.0e})",
        report.library.display(),
        report.images,
        report.onnxruntime_accuracy,
        report.runner_accuracy,
        report.disagreements,
        report.max_abs_difference,
        report.tolerance,
    )
}

/// A float32 model must agree with the runner's to the tolerance. A model whose frozen
/// layers ran in bfloat16 in the runner is exported in float32, so it cannot; its check
/// reports without failing.
fn check_outcome(model: &TrainedModel, report: &CheckReport) -> Result<()> {
    if model.classifier.frozen.precision() == Precision::Bf16 {
        eprintln!(
            "note: the run's frozen layers ran in bfloat16 and the export is float32, so the probabilities differ by more than bfloat16 rounding, not by float32 rounding"
        );
        return Ok(());
    }
    if report.max_abs_difference > report.tolerance {
        anyhow::bail!(
            "the exported model's probabilities differ from the runner's by up to {:.2e}, more than {:.0e}: the export is wrong (a bug in runner)",
            report.max_abs_difference,
            report.tolerance
        );
    }
    Ok(())
}
