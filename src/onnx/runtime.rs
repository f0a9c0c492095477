//! ONNX Runtime, loaded from its shared library when `runner export --check` needs it, so
//! the runner builds and runs without it. The library is the one PyPI's `onnxruntime` wheel
//! carries: `ORT_DYLIB_PATH` names it, or `scripts/setup.sh` installed it in
//! `$RUNNER_HOME/onnx-venv`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;

use super::classifier::{INPUT, LOGITS, PROBABILITIES};

/// An exported classifier loaded in ONNX Runtime with all graph optimizations, as a user
/// deploying it would load it.
pub struct OnnxSession {
    session: Session,
    /// Where the library was loaded from, for the report.
    pub library: PathBuf,
}

/// A batch's two outputs, a row per image.
pub struct Outputs {
    pub logits: Vec<f32>,
    pub probabilities: Vec<f32>,
}

impl OnnxSession {
    pub fn open(model: &Path) -> Result<Self> {
        let (environment, library) = environment()?;
        let session = Session::builder(environment)
            .and_then(|builder| {
                builder
                    .with_optimization_level(GraphOptimizationLevel::All)
                    .map_err(Into::into)
            })
            .and_then(|mut builder| builder.commit_from_file(model))
            .map_err(|err| {
                anyhow::anyhow!("ONNX Runtime cannot load `{}`: {err}", model.display())
            })?;
        Ok(Self {
            session,
            library: library.clone(),
        })
    }

    /// The outputs for a batch of pixel values `[n, 3, height, width]`.
    pub fn run(&mut self, pixels: Vec<f32>, shape: [usize; 4]) -> Result<Outputs> {
        let input = Tensor::from_array((shape, pixels))
            .map_err(|err| anyhow::anyhow!("cannot hand the batch to ONNX Runtime: {err}"))?;
        let outputs = self
            .session
            .run(ort::inputs![INPUT => input])
            .map_err(|err| anyhow::anyhow!("ONNX Runtime failed on a batch: {err}"))?;
        let values = |name: &str| -> Result<Vec<f32>> {
            let (_, values) = outputs[name]
                .try_extract_tensor::<f32>()
                .map_err(|err| anyhow::anyhow!("ONNX Runtime's output `{name}`: {err}"))?;
            Ok(values.to_vec())
        };
        Ok(Outputs {
            logits: values(LOGITS)?,
            probabilities: values(PROBABILITIES)?,
        })
    }
}

/// ONNX Runtime's environment, made once per process (the library is loaded once), and
/// where the library came from.
fn environment() -> Result<&'static (Environment, PathBuf)> {
    static ENVIRONMENT: OnceLock<Result<(Environment, PathBuf), String>> = OnceLock::new();
    ENVIRONMENT
        .get_or_init(|| {
            let library = library().map_err(|err| format!("{err:#}"))?;
            let environment = ort::init_from(&library)
                .map_err(|err| {
                    format!(
                        "cannot load ONNX Runtime from `{}`: {err}",
                        library.display()
                    )
                })?
                .with_name("runner")
                .build()
                .map_err(|err| format!("cannot start ONNX Runtime: {err}"))?;
            Ok((environment, library))
        })
        .as_ref()
        .map_err(|err| anyhow::anyhow!("{err}"))
}

/// `ORT_DYLIB_PATH`, or the library in the setup script's virtualenv.
fn library() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        return Ok(PathBuf::from(path));
    }
    let home = std::env::var_os("RUNNER_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/runner")))
        .context("neither RUNNER_HOME nor HOME is set")?;
    let pattern =
        home.join("onnx-venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so*");
    glob::glob(&pattern.to_string_lossy())
        .ok()
        .and_then(|mut matches| matches.find_map(Result::ok))
        .with_context(|| {
            format!(
                "ONNX Runtime is not installed: `scripts/setup.sh` installs it in {}, or set ORT_DYLIB_PATH to a libonnxruntime.so",
                home.join("onnx-venv").display()
            )
        })
}
