//! `runner summary`: the model a pipeline builds, layer by layer, as Keras'
//! `model.summary()` shows it: the kept backbone layers and the head, each with its output
//! shape at the configured image size, its parameter count and whether it trains (in the
//! first phase), then the totals. Counts follow the framework the backbone comes from, so
//! they are the numbers its users know: Keras' `model.summary()` for InceptionV3, PyTorch's
//! `model.parameters()` for torchvision's networks and EfficientNet-Lite.

use std::fmt::Write;

use anyhow::Result;
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use serde::Serialize;

use crate::model::head::HeadLayer;
use crate::model::{Head, build_backbone};
use crate::spec::{Arch, LayerPlan, PipelineSpec, phase_spec};

#[derive(Debug, Serialize)]
pub struct ModelSummary {
    pub pipeline: String,
    /// `[height, width, channels]` of the input images.
    pub input: [usize; 3],
    pub layers: Vec<LayerRow>,
    pub total_params: usize,
    pub trainable_params: usize,
    pub non_trainable_params: usize,
}

#[derive(Debug, Serialize)]
pub struct LayerRow {
    /// The backbone layer's name (what `cut` and `freeze` take), or `head.N`.
    pub name: String,
    pub kind: String,
    /// Channels-last, as Keras prints it: `[height, width, channels]`, or `[units]`.
    pub output_shape: Vec<usize>,
    /// Parameters as the backbone's framework counts them (see [`Counting`]).
    pub params: usize,
    /// Of `params`, those the optimizer updates.
    pub trainable_params: usize,
    pub trainable: bool,
}

/// Which of a layer's values the backbone's framework counts as parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counting {
    /// Keras: BatchNorm's moving mean and variance are weights, never trainable; Keras'
    /// InceptionV3 has no BatchNorm scale (`scale=False`), so the gamma standing in for it
    /// (fixed at 1) is not one.
    KerasInceptionV3,
    /// PyTorch: BatchNorm's running statistics are buffers, not parameters.
    PyTorch,
}

impl Counting {
    fn of(arch: Arch) -> Self {
        match arch {
            Arch::InceptionV3 => Counting::KerasInceptionV3,
            _ => Counting::PyTorch,
        }
    }

    /// `(counted, trainable)` values of `module`, whose layer trains or not.
    fn count(self, module: &impl Module, trains: bool) -> (usize, usize) {
        let mut counter = Counter {
            counting: self,
            trains,
            path: Vec::new(),
            counted: 0,
            trainable: 0,
        };
        module.visit(&mut counter);
        (counter.counted, counter.trainable)
    }
}

struct Counter {
    counting: Counting,
    trains: bool,
    /// The field names leading to the value being visited.
    path: Vec<String>,
    counted: usize,
    trainable: usize,
}

impl ModuleVisitor for Counter {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let field = self.path.last().map_or("", String::as_str);
        let statistic = matches!(field, "running_mean" | "running_var");
        let counted = match self.counting {
            Counting::KerasInceptionV3 => field != "gamma",
            Counting::PyTorch => !statistic,
        };
        if counted {
            let values = param.val().shape().num_elements();
            self.counted += values;
            if self.trains && !statistic {
                self.trainable += values;
            }
        }
    }
}

/// Builds the model of `spec`'s first phase with random weights (shapes and counts do
/// not depend on them) and describes it.
pub fn summarize(spec: &PipelineSpec, device: &Device) -> Result<ModelSummary> {
    let mut spec = phase_spec(spec, 0)?;
    spec.backbone.weights = "none".into();
    let backbone = build_backbone(&spec.backbone, &LayerPlan::of(&spec.backbone)?, device)?;
    let counting = Counting::of(spec.backbone.arch);
    let [height, width] = spec.data.image_size.map(|side| side as usize);
    let mut x = Tensor::<4>::zeros([1, 3, height, width], device);
    let mut layers = Vec::new();
    for ((name, layer), frozen) in backbone.layers.iter().zip(&backbone.frozen) {
        x = layer.forward(x);
        let [_, channels, rows, columns] = x.dims();
        let (params, trainable_params) = counting.count(layer, !frozen);
        layers.push(LayerRow {
            name: name.clone(),
            kind: layer.kind().to_string(),
            output_shape: vec![rows, columns, channels],
            params,
            trainable_params,
            trainable: !frozen,
        });
    }
    let [_, channels, rows, columns] = x.dims();
    let (head, _) = Head::new(&spec.head, [channels, rows, columns], device)?;
    let mut shape = vec![rows, columns, channels];
    for (index, layer) in head.layers.iter().enumerate() {
        let (kind, params) = match layer {
            HeadLayer::GlobalAvgPool(_) => {
                shape = vec![shape[2]];
                ("GlobalAveragePooling2D", 0)
            }
            HeadLayer::Flatten(_) => {
                shape = vec![shape.iter().product()];
                ("Flatten", 0)
            }
            HeadLayer::Dense(dense) => {
                shape = vec![dense.linear.weight.dims()[1]];
                ("Dense", dense.num_params())
            }
            HeadLayer::Dropout(_) => ("Dropout", 0),
        };
        layers.push(LayerRow {
            name: format!("head.{index}"),
            kind: kind.to_string(),
            output_shape: shape.clone(),
            params,
            trainable_params: params,
            trainable: true,
        });
    }
    let total_params = layers.iter().map(|layer| layer.params).sum();
    let trainable_params = layers.iter().map(|layer| layer.trainable_params).sum();
    Ok(ModelSummary {
        pipeline: spec.pipeline.name.clone(),
        input: [height, width, 3],
        layers,
        total_params,
        trainable_params,
        non_trainable_params: total_params - trainable_params,
    })
}

impl ModelSummary {
    pub fn to_text(&self) -> String {
        let shape = |dims: &[usize]| {
            let dims: Vec<String> = dims.iter().map(usize::to_string).collect();
            format!("(None, {})", dims.join(", "))
        };
        let name_width = self
            .layers
            .iter()
            .map(|l| l.name.len() + l.kind.len() + 3)
            .max()
            .unwrap_or(0)
            .max(14);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Model: \"{}\" (input {})",
            self.pipeline,
            shape(&self.input)
        );
        let _ = writeln!(
            out,
            "{:<name_width$}  {:<22} {:>12}  trainable",
            "Layer (type)", "Output shape", "Param #"
        );
        let _ = writeln!(out, "{}", "-".repeat(name_width + 50));
        for layer in &self.layers {
            let _ = writeln!(
                out,
                "{:<name_width$}  {:<22} {:>12}  {}",
                format!("{} ({})", layer.name, layer.kind),
                shape(&layer.output_shape),
                thousands(layer.params),
                if layer.trainable { "yes" } else { "no" }
            );
        }
        let _ = writeln!(out, "{}", "-".repeat(name_width + 50));
        let _ = writeln!(out, "Total params: {}", thousands(self.total_params));
        let _ = writeln!(
            out,
            "Trainable params: {}",
            thousands(self.trainable_params)
        );
        let _ = writeln!(
            out,
            "Non-trainable params: {}",
            thousands(self.non_trainable_params)
        );
        out
    }
}

/// `1234567` as `1,234,567`, as Keras prints counts.
fn thousands(value: usize) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
