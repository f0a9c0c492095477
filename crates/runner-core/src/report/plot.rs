//! `runner plot`: training and validation accuracy and loss per epoch for several runs,
//! one color per run (solid: training, dashed: validation), as PNG or SVG.

use std::path::Path;
use std::sync::Once;

use anyhow::{Result, anyhow};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::bail_input;
use crate::metrics::EpochMetrics;

/// DejaVu Sans (its licence is beside it): plots render the same on machines without
/// system fonts.
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const SIZE: (u32, u32) = (1200, 520);

/// Makes the bundled font plotters' `sans-serif`, once per process.
pub(crate) fn register_bundled_font() {
    static FONT_REGISTERED: Once = Once::new();
    FONT_REGISTERED.call_once(|| {
        register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the bundled font is a valid TrueType file"));
    });
}

/// One run to draw: its legend label and its epochs.
pub struct PlottedRun {
    pub label: String,
    pub history: Vec<EpochMetrics>,
}

/// Writes the plot to `out`, PNG or SVG by its extension.
pub fn plot_runs(runs: &[PlottedRun], out: &Path) -> Result<()> {
    register_bundled_font();
    let extension = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("png") => draw(BitMapBackend::new(out, SIZE).into_drawing_area(), runs)?,
        Some("svg") => draw(SVGBackend::new(out, SIZE).into_drawing_area(), runs)?,
        _ => bail_input!(
            "`--out {}`: the plot is written as .png or .svg",
            out.display()
        ),
    }
    Ok(())
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, runs: &[PlottedRun]) -> Result<()> {
    let error = |err: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("cannot draw the plot: {err}");
    root.fill(&WHITE).map_err(error)?;
    let (accuracy_area, loss_area) = root.split_horizontally(SIZE.0 / 2);
    panel(&accuracy_area, runs, "accuracy", |e| {
        (e.accuracy, e.val_accuracy)
    })
    .map_err(error)?;
    panel(&loss_area, runs, "loss", |e| (e.loss, e.val_loss)).map_err(error)?;
    root.present().map_err(error)?;
    Ok(())
}

/// One chart: a metric's training (solid) and validation (dashed) curve per run.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    runs: &[PlottedRun],
    title: &str,
    values: impl Fn(&EpochMetrics) -> (f64, f64),
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let epochs = runs
        .iter()
        .flat_map(|run| run.history.iter().map(|e| e.epoch))
        .max()
        .unwrap_or(1)
        .max(2) as u32;
    let points = runs.iter().flat_map(|run| {
        run.history.iter().flat_map(|e| {
            let (train, validation) = values(e);
            [train, validation]
        })
    });
    let (low, high) = points.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (low, high) = if low.is_finite() {
        (low, high)
    } else {
        (0.0, 1.0)
    };
    let margin = ((high - low) * 0.05).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("training (solid) and validation (dashed) {title}"),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        // An integer axis: epochs are counted, so its ticks fall on whole epochs only.
        .build_cartesian_2d(1u32..epochs, (low - margin)..(high + margin))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(title)
        .label_style(("sans-serif", 13))
        .draw()?;
    for (index, run) in runs.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let train: Vec<(u32, f64)> = run
            .history
            .iter()
            .map(|e| (e.epoch as u32, values(e).0))
            .collect();
        let validation: Vec<(u32, f64)> = run
            .history
            .iter()
            .map(|e| (e.epoch as u32, values(e).1))
            .collect();
        chart
            .draw_series(LineSeries::new(train, color.stroke_width(2)))?
            .label(&run.label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        chart.draw_series(DashedLineSeries::new(
            validation,
            6,
            4,
            color.stroke_width(2),
        ))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .position(if title == "loss" {
            SeriesLabelPosition::UpperRight
        } else {
            SeriesLabelPosition::LowerRight
        })
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: usize) -> EpochMetrics {
        let e = epoch as f64;
        EpochMetrics {
            epoch,
            phase: 1,
            // Accuracy labels stay under 1 and loss labels over 10, so any other number
            // drawn is an epoch tick.
            loss: 10.0 + e / 10.0,
            accuracy: 0.01 * e,
            val_loss: 10.5 + e / 10.0,
            val_accuracy: 0.012 * e,
            extra: Default::default(),
            lr: 0.001,
            seconds: 1.0,
            data_wait_seconds: 0.0,
        }
    }

    #[test]
    fn the_epoch_axis_has_whole_epochs_only() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("curves.svg");
        let run = PlottedRun {
            label: "run".into(),
            history: (1..=5).map(epoch).collect(),
        };
        plot_runs(&[run], &out).unwrap();
        let svg = std::fs::read_to_string(&out).unwrap();
        let ticks: Vec<f64> = svg
            .split('>')
            .filter_map(|part| part.split('<').next())
            .filter_map(|text| text.trim().parse::<f64>().ok())
            .filter(|value| (1.0..=5.0).contains(value))
            .collect();
        assert!(ticks.contains(&1.0) && ticks.contains(&5.0), "{ticks:?}");
        assert!(ticks.iter().all(|tick| tick.fract() == 0.0), "{ticks:?}");
    }
}
