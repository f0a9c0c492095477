//! TensorBoard event files of recorded runs (`runner export-logs --tensorboard DIR`), laid
//! out as Keras' `TensorBoard` callback writes them: `DIR/RUN/train` and
//! `DIR/RUN/validation` with one scalar per metric and epoch (`epoch_loss`,
//! `epoch_accuracy`, ..., and `epoch_learning_rate` under train), and in `DIR/RUN` the
//! run's parameters for the hparams plugin (a session start and end, as
//! `tensorboard.plugins.hparams.api` writes them), so that TensorBoard's HParams tab puts
//! runs side by side with their validation metrics.
//!
//! An event file is a sequence of TFRecords, each an `Event` protocol buffer. The few
//! messages needed are encoded by hand below (field numbers from tensorflow's
//! `event.proto`, `summary.proto`, `tensor.proto` and tensorboard's hparams
//! `plugin_data.proto`): a protobuf library and generated code would be far more than the
//! six messages written here.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::metrics::EpochMetrics;
use crate::store::{RunRecord, RunStatus};

/// Writes the event files of `run` under `dir/RUN_ID`; returns that folder.
pub fn write_run(dir: &Path, run: &RunRecord, epochs: &[EpochMetrics]) -> Result<PathBuf> {
    let folder = dir.join(&run.id);
    // The store keeps milliseconds; event files, seconds.
    let started = run.started_at as f64 / 1000.0;
    let mut train = EventFile::create(&folder.join("train"), started)?;
    let mut validation = EventFile::create(&folder.join("validation"), started)?;
    for epoch in epochs {
        // Keras counts epochs from 0 in its event files.
        let step = epoch.epoch.saturating_sub(1) as u64;
        let wall_time = started + epochs_seconds(epochs, epoch.epoch);
        let mut train_values = vec![
            ("epoch_loss".to_string(), epoch.loss),
            ("epoch_accuracy".to_string(), epoch.accuracy),
            ("epoch_learning_rate".to_string(), epoch.lr),
        ];
        let mut validation_values = vec![
            ("epoch_loss".to_string(), epoch.val_loss),
            ("epoch_accuracy".to_string(), epoch.val_accuracy),
        ];
        // `val_precision` is validation's `epoch_precision`, as Keras names it.
        for (name, value) in &epoch.extra {
            let (values, metric) = match name.strip_prefix("val_") {
                Some(metric) => (&mut validation_values, metric),
                None => (&mut train_values, name.as_str()),
            };
            values.push((format!("epoch_{metric}"), *value));
        }
        for (file, values) in [
            (&mut train, train_values),
            (&mut validation, validation_values),
        ] {
            for (tag, value) in values {
                file.write(&event(wall_time, step, &scalar_summary(&tag, value)))?;
            }
        }
    }
    let mut session = EventFile::create(&folder, started)?;
    session.write(&event(
        started,
        0,
        &hparams_summary(SESSION_START_TAG, &session_start_info(run)),
    ))?;
    if let Some(status) = session_status(run.status) {
        let ended = started + epochs_seconds(epochs, usize::MAX);
        session.write(&event(
            ended,
            0,
            &hparams_summary(SESSION_END_TAG, &session_end_info(status, ended)),
        ))?;
    }
    for file in [train, validation, session] {
        file.finish()?;
    }
    Ok(folder)
}

const SESSION_START_TAG: &str = "_hparams_/session_start_info";
const SESSION_END_TAG: &str = "_hparams_/session_end_info";

/// Seconds from the start to the end of epoch `upto` (all of them for `usize::MAX`).
fn epochs_seconds(epochs: &[EpochMetrics], upto: usize) -> f64 {
    epochs
        .iter()
        .filter(|epoch| epoch.epoch <= upto)
        .map(|epoch| epoch.seconds)
        .sum()
}

/// One event file, written to a temporary name and renamed when complete.
struct EventFile {
    path: PathBuf,
    temporary: PathBuf,
    out: std::io::BufWriter<std::fs::File>,
}

impl EventFile {
    fn create(folder: &Path, started: f64) -> Result<Self> {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create `{}`", folder.display()))?;
        // TensorBoard reads files whose names contain `tfevents`.
        let path = folder.join(format!("events.out.tfevents.{}.runner", started as u64));
        let temporary = folder.join(".events.out.tfevents.partial");
        let file = std::fs::File::create(&temporary)
            .with_context(|| format!("cannot write `{}`", temporary.display()))?;
        let mut created = Self {
            path,
            temporary,
            out: std::io::BufWriter::new(file),
        };
        // The first event of every file says which format follows.
        let mut version = Message::default();
        version.double(1, started);
        version.string(3, "brain.Event:2");
        created.write(&version.bytes)?;
        Ok(created)
    }

    /// One TFRecord: the length, its masked CRC-32C, the data, its masked CRC-32C.
    fn write(&mut self, data: &[u8]) -> Result<()> {
        let length = (data.len() as u64).to_le_bytes();
        self.out.write_all(&length)?;
        self.out.write_all(&masked_crc(&length).to_le_bytes())?;
        self.out.write_all(data)?;
        self.out.write_all(&masked_crc(data).to_le_bytes())?;
        Ok(())
    }

    fn finish(self) -> Result<()> {
        let file = self
            .out
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        file.sync_all()?;
        std::fs::rename(&self.temporary, &self.path)
            .with_context(|| format!("cannot write `{}`", self.path.display()))
    }
}

/// TFRecord's checksum: CRC-32C, rotated and offset so that a checksum of checksums does
/// not degenerate.
fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    (crc.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// A protocol buffer message being written, field by field.
#[derive(Default)]
struct Message {
    bytes: Vec<u8>,
}

impl Message {
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.bytes.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.bytes.push(value as u8);
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire_type));
    }

    fn uint(&mut self, field: u32, value: u64) {
        self.key(field, 0);
        self.varint(value);
    }

    fn double(&mut self, field: u32, value: f64) {
        self.key(field, 1);
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    fn float(&mut self, field: u32, value: f32) {
        self.key(field, 5);
        self.bytes.extend_from_slice(&value.to_le_bytes());
    }

    fn bytes(&mut self, field: u32, value: &[u8]) {
        self.key(field, 2);
        self.varint(value.len() as u64);
        self.bytes.extend_from_slice(value);
    }

    fn string(&mut self, field: u32, value: &str) {
        self.bytes(field, value.as_bytes());
    }

    fn message(&mut self, field: u32, value: &Message) {
        self.bytes(field, &value.bytes);
    }
}

/// `Event { wall_time = 1, step = 2, summary = 5 }`.
fn event(wall_time: f64, step: u64, summary: &Message) -> Vec<u8> {
    let mut event = Message::default();
    event.double(1, wall_time);
    event.uint(2, step);
    event.message(5, summary);
    event.bytes
}

/// `Summary { value = 1: Value { tag = 1, simple_value = 2 } }`.
fn scalar_summary(tag: &str, value: f64) -> Message {
    let mut scalar = Message::default();
    scalar.string(1, tag);
    scalar.float(2, value as f32);
    let mut summary = Message::default();
    summary.message(1, &scalar);
    summary
}

/// A summary the hparams plugin reads: `Value { tag = 1, tensor = 8, metadata = 9 }` whose
/// metadata's `plugin_data { plugin_name = "hparams", content = HParamsPluginData }`, and
/// whose tensor is the empty float the plugin's own writer puts there.
fn hparams_summary(tag: &str, plugin_data: &Message) -> Message {
    let mut plugin = Message::default();
    plugin.string(1, "hparams");
    plugin.message(2, plugin_data);
    let mut metadata = Message::default();
    metadata.message(1, &plugin);
    // TensorProto { dtype = 1: DT_FLOAT (1), tensor_shape = 2: {} }
    let mut tensor = Message::default();
    tensor.uint(1, 1);
    tensor.message(2, &Message::default());
    let mut value = Message::default();
    value.string(1, tag);
    value.message(8, &tensor);
    value.message(9, &metadata);
    let mut summary = Message::default();
    summary.message(1, &value);
    summary
}

/// `HParamsPluginData { version = 1: 0, session_start_info = 3: SessionStartInfo {
/// hparams = 1: map<string, google.protobuf.Value>, group_name = 4, start_time_secs = 5 } }`.
fn session_start_info(run: &RunRecord) -> Message {
    let mut start = Message::default();
    let hparams: BTreeMap<&String, &Value> = run.params.iter().collect();
    for (name, value) in hparams {
        let mut entry = Message::default();
        entry.string(1, name);
        entry.message(2, &protobuf_value(value));
        start.message(1, &entry);
    }
    start.string(4, &run.id);
    start.double(5, run.started_at as f64 / 1000.0);
    let mut data = Message::default();
    data.uint(1, 0);
    data.message(3, &start);
    data
}

/// `HParamsPluginData { session_end_info = 4: SessionEndInfo { status = 1, end_time_secs = 2 } }`.
fn session_end_info(status: u64, ended: f64) -> Message {
    let mut end = Message::default();
    end.uint(1, status);
    end.double(2, ended);
    let mut data = Message::default();
    data.uint(1, 0);
    data.message(4, &end);
    data
}

/// The hparams plugin's `Status` of a run that ended: `STATUS_SUCCESS` (1) or
/// `STATUS_FAILURE` (2); `None` for one still running.
fn session_status(status: RunStatus) -> Option<u64> {
    match status {
        RunStatus::Finished | RunStatus::StoppedEarly | RunStatus::Pruned => Some(1),
        RunStatus::Running => None,
        RunStatus::Failed | RunStatus::Interrupted => Some(2),
    }
}

/// `google.protobuf.Value`: `number_value = 2`, `string_value = 3` or `bool_value = 4`;
/// lists and tables as their JSON text.
fn protobuf_value(value: &Value) -> Message {
    let mut message = Message::default();
    match value {
        Value::Number(number) => message.double(2, number.as_f64().unwrap_or(f64::NAN)),
        Value::String(text) => message.string(3, text),
        Value::Bool(flag) => message.uint(4, u64::from(*flag)),
        other => message.string(3, &other.to_string()),
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_checksums_are_the_formats() {
        let mut message = Message::default();
        message.uint(2, 300);
        // Field 2, wire type 0; 300 = 0b10_0101100 -> 0xac 0x02.
        assert_eq!(message.bytes, [0x10, 0xac, 0x02]);
        // TFRecord's masked CRC-32C of an empty record, as TensorFlow computes it.
        assert_eq!(masked_crc(&[]), 0xa282_ead8);
        // CRC-32C's check value (RFC 3720): "123456789" -> 0xe3069283.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
    }
}
