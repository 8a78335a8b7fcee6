//! `tch-vae compare`: several runs side by side. Their test-loss curves overlaid in one
//! SVG, each labelled by the settings that tell it from the others, and a table of their
//! final numbers (and `eval.json`'s, where a run has one), as text, Markdown or CSV.
//! Runs whose nats do not compare (other data, binarisation, image size or likelihood)
//! are refused, naming the setting and the runs.
use crate::config::RunConfig;
use crate::eval::report::EvalReport;
use crate::run::metrics::{self, EpochMetrics};
use crate::run::{self, EVAL, METRICS};
use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One run as compared: where it is, its configuration, history and evaluation.
pub struct Run {
    pub dir: PathBuf,
    pub config: RunConfig,
    pub history: Vec<EpochMetrics>,
    pub eval: Option<EvalReport>,
    /// The settings that differ between the compared runs, `key=value`.
    pub label: String,
}

/// Settings that identify what the numbers are measured on: runs must share them.
fn measured_on(c: &RunConfig) -> [(&'static str, String); 5] {
    [
        // One folder under two spellings (../data, /home/me/data) is the same data.
        (
            "data",
            std::fs::canonicalize(&c.train.data)
                .unwrap_or_else(|_| c.train.data.clone())
                .display()
                .to_string(),
        ),
        ("binarize", c.train.binarize.name().to_string()),
        (
            "image size",
            format!("{}x{}", c.model.image_height, c.model.image_width),
        ),
        ("channels", c.model.channels.to_string()),
        ("likelihood", c.model.likelihood.name().to_string()),
    ]
}

/// The largest `eval.json` read (one holds a few KiB per latent dimension).
const MAX_EVAL_BYTES: u64 = 64 << 20;

/// Loads `dirs` and checks that their numbers compare.
pub fn load(dirs: &[PathBuf]) -> Result<Vec<Run>> {
    ensure!(!dirs.is_empty(), "compare: give at least one run folder");
    let mut runs = Vec::new();
    for dir in dirs {
        let config = run::read_config(dir)?;
        // A FIFO in place of a run file would block a reader: refused first.
        run::check_regular(&dir.join(METRICS))?;
        run::check_regular(&dir.join(EVAL))?;
        let history = metrics::read(&dir.join(METRICS))
            .with_context(|| format!("{}: no finished epoch to compare", dir.display()))?;
        let eval = match dir.join(EVAL) {
            p if p.is_file() => Some(
                serde_json::from_slice(&crate::native::files::read_bounded(
                    &p,
                    MAX_EVAL_BYTES,
                    "an eval.json may hold",
                )?)
                .with_context(|| format!("{} is not a tch-vae eval.json", p.display()))?,
            ),
            _ => None,
        };
        runs.push(Run {
            dir: dir.clone(),
            config,
            history,
            eval,
            label: String::new(),
        });
    }
    let first = &runs[0];
    for run in &runs[1..] {
        for ((what, a), (_, b)) in measured_on(&first.config)
            .iter()
            .zip(measured_on(&run.config))
        {
            if *a != b {
                bail!(
                    "{} and {} are not comparable: their {what} differs ({a} and {b}); nats \
                     compare only on the same data, binarisation, image size and likelihood",
                    first.dir.display(),
                    run.dir.display()
                );
            }
        }
    }
    let labels = labels(&runs)?;
    for (run, label) in runs.iter_mut().zip(labels) {
        run.label = label;
    }
    Ok(runs)
}

/// Each run's folder name and the settings in which the runs differ.
fn labels(runs: &[Run]) -> Result<Vec<String>> {
    let flat: Vec<BTreeMap<String, String>> = runs
        .iter()
        .map(|r| Ok(flatten(&serde_json::to_value(&r.config)?)))
        .collect::<Result<_>>()?;
    // Not settings: the version that wrote the run, where it trained, how long.
    let ignored = ["version", "train.device", "train.epochs", "train.data"];
    let differing: Vec<&String> = flat[0]
        .keys()
        .chain(flat.iter().skip(1).flat_map(|f| f.keys()))
        .filter(|k| !ignored.contains(&k.as_str()) && !k.starts_with("data."))
        .filter(|k| flat.iter().any(|f| f.get(*k) != flat[0].get(*k)))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(runs
        .iter()
        .zip(&flat)
        .map(|(run, f)| {
            let name = run.dir.file_name().map_or_else(
                || run.dir.display().to_string(),
                |n| n.to_string_lossy().into(),
            );
            let settings: Vec<String> = differing
                .iter()
                .map(|k| {
                    let short = k.rsplit('.').next().unwrap_or(k);
                    format!("{short}={}", f.get(*k).map_or("-", String::as_str))
                })
                .collect();
            match settings.is_empty() {
                true => name,
                false => format!("{name} ({})", settings.join(", ")),
            }
        })
        .collect())
}

/// `{"model": {"latent": 2}}` -> `model.latent` = `2`.
fn flatten(v: &Value) -> BTreeMap<String, String> {
    fn go(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    go(&key, v, out);
                }
            }
            Value::String(s) => drop(out.insert(prefix.to_string(), s.clone())),
            other => drop(out.insert(prefix.to_string(), other.to_string())),
        }
    }
    let mut out = BTreeMap::new();
    go("", v, &mut out);
    out
}

/// The table's header and one row of cells per run.
pub fn table(runs: &[Run]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = vec![
        "run",
        "epochs",
        "test loss",
        "test recon",
        "test KL",
        "-log p(x)",
        "k",
        "bits/dim",
        "active units",
    ];
    let rows = runs
        .iter()
        .map(|r| {
            let last = r
                .history
                .last()
                .expect("metrics::read refuses an empty history");
            let e = r.eval.as_ref();
            let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
            vec![
                r.label.clone(),
                last.epoch.to_string(),
                format!("{:.2}", last.test_loss),
                format!("{:.2}", last.test_recon),
                format!("{:.2}", last.test_kl),
                or_dash(e.map(|e| match e.nll_stderr {
                    Some(s) => format!("{:.2} +- {s:.2}", e.nll),
                    None => format!("{:.2}", e.nll),
                })),
                or_dash(e.map(|e| e.iw_samples.to_string())),
                or_dash(e.map(|e| format!("{:.4}", e.bits_per_dim))),
                or_dash(e.map(|e| format!("{}/{}", e.active_units, e.latent))),
            ]
        })
        .collect();
    (header, rows)
}

/// The table as aligned text (what `compare` prints).
pub fn text_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

/// The table as Markdown.
pub fn markdown_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!(
        "| {} |\n|{}\n",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for r in rows {
        out += &format!("| {} |\n", r.join(" | "));
    }
    out
}

/// The table as CSV.
pub fn csv_table(header: &[&str], rows: &[Vec<String>]) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(header)?;
    for r in rows {
        w.write_record(r)?;
    }
    Ok(String::from_utf8(
        w.into_inner().context("cannot encode the table")?,
    )?)
}

/// Writes the comparison to `path`, by its extension: `.svg` the curves, `.md` or `.csv`
/// the table.
pub fn write(path: &Path, runs: &[Run]) -> Result<()> {
    let (header, rows) = table(runs);
    let text = match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => {
            let curves: Vec<(String, Vec<(f64, f64)>)> = runs
                .iter()
                .map(|r| {
                    let pts = r
                        .history
                        .iter()
                        .map(|m| (m.epoch as f64, m.test_loss))
                        .collect();
                    (r.label.clone(), pts)
                })
                .collect();
            crate::figures::plot::compare_svg(&curves)?
        }
        Some("md") => markdown_table(&header, &rows),
        Some("csv") => csv_table(&header, &rows)?,
        _ => bail!(
            "--output {}: give a .svg (the curves), .md or .csv (the table) file",
            path.display()
        ),
    };
    crate::native::atomic::write_bytes(path, text.as_bytes())
}
