//! TensorBoard event files in the run folder (`tensorboard --logdir models` shows every
//! run): each `metrics.csv` column per epoch, the running training loss every few batches,
//! the sample and reconstruction grids per epoch, and `config.json` as text.
//!
//! Steps count training batches: a batch-level value at the batch it follows, an epoch's
//! values at its last batch. Each group of events is encoded in memory and appended to the
//! file in one write, so a crash or SIGKILL leaves whole records. A resumed run first
//! writes a SessionLog START at the step it resumes after, and TensorBoard's readers then
//! drop any value a killed run had written beyond it: the curves continue without
//! duplicate steps.
use crate::figures::images::Png;
use crate::run::metrics::EpochMetrics;
use anyhow::{Context, Result};
use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use tboard::tensorboard::{self as tb, event::What, summary};
use tboard::EventWriter;

/// The tag of each `metrics.csv` column (but epoch), with its value.
pub fn epoch_scalars(m: &EpochMetrics) -> impl Iterator<Item = (&'static str, f64)> {
    let row = m.to_row();
    EpochMetrics::TAGS.into_iter().zip(row.into_iter().skip(1))
}

/// The running mean of the epoch's training loss, every few batches.
pub const RUNNING_LOSS: &str = "train/running_loss";

/// The bytes an `EventWriter` produces, kept until they are appended to the file.
#[derive(Clone, Default)]
struct Pending(Rc<RefCell<Vec<u8>>>);

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct Board {
    path: PathBuf,
    file: std::fs::File,
    pending: Pending,
    writer: EventWriter<Pending>,
}

impl Board {
    /// A new event file in `dir`. `resumed_after`: the training batches a resumed run
    /// has done (its values beyond them are to be dropped).
    pub fn open(dir: &Path, resumed_after: Option<u64>) -> Result<Self> {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let path = dir.join(format!(
            "{}{secs:010}.tch-vae.{}",
            crate::run::EVENTS_PREFIX,
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let pending = Pending::default();
        let writer = EventWriter::from_writer(pending.clone(), None).map_err(tb_error)?;
        let mut board = Board {
            path,
            file,
            pending,
            writer,
        };
        if let Some(step) = resumed_after {
            let start = tb::SessionLog {
                status: tb::session_log::SessionStatus::Start.into(),
                ..Default::default()
            };
            board
                .writer
                .write(step as i64 + 1, What::SessionLog(start))
                .map_err(tb_error)?;
        }
        board.append()?;
        Ok(board)
    }

    /// Writes the events encoded so far to the file, in one write.
    fn append(&mut self) -> Result<()> {
        let bytes = std::mem::take(&mut *self.pending.0.borrow_mut());
        self.file
            .write_all(&bytes)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// A scalar at `step` (training batches done); NaN (a column that does not apply)
    /// is left out.
    pub fn scalars(&mut self, step: u64, values: &[(&str, f64)]) -> Result<()> {
        for &(tag, value) in values.iter().filter(|(_, v)| !v.is_nan()) {
            self.writer
                .write_scalar(step as i64, tag, value as f32)
                .map_err(tb_error)?;
        }
        self.append()
    }

    /// An epoch: every `metrics.csv` column, and the sample and reconstruction grids.
    pub fn epoch(&mut self, step: u64, m: &EpochMetrics, images: &[(&str, Png)]) -> Result<()> {
        for (tag, png) in images {
            // colorspace: 1 grey, 3 RGB (TensorBoard's Summary.Image).
            self.writer
                .write_image(
                    step as i64,
                    tag,
                    png.width as i32,
                    png.height as i32,
                    png.channels as i32,
                    png.bytes.clone(),
                )
                .map_err(tb_error)?;
        }
        self.scalars(step, &epoch_scalars(m).collect::<Vec<_>>())
    }

    /// `text` under `tag` for TensorBoard's text plugin (a string tensor).
    pub fn text(&mut self, tag: &str, text: &str) -> Result<()> {
        let tensor = tb::TensorProto {
            dtype: tb::DataType::DtString.into(),
            tensor_shape: Some(tb::TensorShapeProto::default()),
            string_val: vec![text.as_bytes().to_vec()],
            ..Default::default()
        };
        let value = summary::Value {
            tag: tag.to_string(),
            metadata: Some(tb::SummaryMetadata {
                plugin_data: Some(tb::summary_metadata::PluginData {
                    plugin_name: "text".into(),
                    content: Vec::new(),
                }),
                ..Default::default()
            }),
            value: Some(summary::value::Value::Tensor(tensor)),
            ..Default::default()
        };
        self.writer
            .write(0, What::Summary(tb::Summary { value: vec![value] }))
            .map_err(tb_error)?;
        self.append()
    }
}

fn tb_error(e: tboard::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot encode a TensorBoard event: {e}")
}
