//! `loss.svg`: the loss curves of a run, drawn from its metrics with plotters.
use crate::run::metrics::EpochMetrics;
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;

struct Series {
    label: &'static str,
    value: fn(&EpochMetrics) -> f64,
    color: RGBColor,
    /// Test curves are dashed, training curves solid.
    test: bool,
}

const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREEN: RGBColor = RGBColor(44, 160, 44);
const PURPLE: RGBColor = RGBColor(148, 103, 189);
const RED: RGBColor = RGBColor(214, 39, 40);

/// Left panel: the objective and its reconstruction part (hundreds of nats).
const LOSS_SERIES: [Series; 4] = [
    Series {
        label: "train loss (-ELBO)",
        value: |m| m.train_loss,
        color: BLUE,
        test: false,
    },
    Series {
        label: "test loss (-ELBO)",
        value: |m| m.test_loss,
        color: BLUE,
        test: true,
    },
    Series {
        label: "train reconstruction",
        value: |m| m.train_recon,
        color: ORANGE,
        test: false,
    },
    Series {
        label: "test reconstruction",
        value: |m| m.test_recon,
        color: ORANGE,
        test: true,
    },
];

/// Right panel: the KL and its two parts (tens of nats), L_mu and L_sigma^2 (see the crate docs).
const KL_SERIES: [Series; 6] = [
    Series {
        label: "train KL",
        value: |m| m.train_kl,
        color: GREEN,
        test: false,
    },
    Series {
        label: "test KL",
        value: |m| m.test_kl,
        color: GREEN,
        test: true,
    },
    Series {
        label: "train L_mu",
        value: |m| m.train_kl_mu,
        color: PURPLE,
        test: false,
    },
    Series {
        label: "test L_mu",
        value: |m| m.test_kl_mu,
        color: PURPLE,
        test: true,
    },
    Series {
        label: "train L_sigma^2",
        value: |m| m.train_kl_var,
        color: RED,
        test: false,
    },
    Series {
        label: "test L_sigma^2",
        value: |m| m.test_kl_var,
        color: RED,
        test: true,
    },
];

/// Renders the two panels as an SVG document.
pub fn loss_svg(history: &[EpochMetrics]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1200, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let (left, right) = root.split_horizontally(600);
        panel(&left, "Loss and reconstruction", history, &LOSS_SERIES)?;
        // The VampPrior's KL has no split: its L_mu and L_sigma^2 columns are NaN.
        let split = history.iter().any(|m| m.test_kl_mu.is_finite());
        let title = if split {
            "KL = L_mu + L_sigma^2"
        } else {
            "KL (a Monte Carlo estimate: no split)"
        };
        panel(&right, title, history, &KL_SERIES)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

pub fn write_loss_svg(path: &Path, history: &[EpochMetrics]) -> Result<()> {
    crate::native::atomic::write_bytes(path, loss_svg(history)?.as_bytes())
}

fn panel(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    title: &str,
    history: &[EpochMetrics],
    series: &[Series],
) -> Result<()> {
    // A series without a finite value (a column that does not apply) is left out.
    let series: Vec<&Series> = series
        .iter()
        .filter(|s| history.iter().any(|m| (s.value)(m).is_finite()))
        .collect();
    let values = history
        .iter()
        .flat_map(|m| series.iter().map(move |s| (s.value)(m)))
        .filter(|v| v.is_finite());
    let (lo, hi) = padded_range(values);
    let last = history.last().map_or(1, |m| m.epoch) as f64;
    let first = history.first().map_or(1, |m| m.epoch) as f64;
    let (x0, x1) = if last > first {
        (first, last)
    } else {
        (first - 0.5, first + 0.5)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, lo..hi)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("nats per image")
        .x_labels(history.len().clamp(2, 10))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(plot_error)?;
    for s in series {
        let points: Vec<(f64, f64)> = history
            .iter()
            .map(|m| (m.epoch as f64, (s.value)(m)))
            .collect();
        let style = s.color.stroke_width(2);
        let drawn = if s.test {
            chart.draw_series(DashedLineSeries::new(points.clone(), 6, 4, style))
        } else {
            chart.draw_series(LineSeries::new(points.clone(), style))
        };
        let color = s.color;
        let test = s.test;
        drawn
            .map_err(plot_error)?
            .label(s.label)
            .legend(move |(x, y)| {
                let end = if test { x + 8 } else { x + 18 };
                PathElement::new(vec![(x, y), (end, y)], color.stroke_width(2))
            });
        // Markers make single-epoch runs visible too.
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, s.color.filled())))
            .map_err(plot_error)?;
    }
    draw_legend(&mut chart)
}

pub const LATENT_COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A scatter of 2-D latent points coloured by label (`latent.svg`); the legend names each
/// label by `class_names` where it has a name.
pub fn latent_svg(
    points: &[(f64, f64)],
    labels: &[i64],
    class_names: &[String],
    axis: &str,
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 680)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let (x0, x1) = padded_range(points.iter().map(|p| p.0));
        let (y0, y1) = padded_range(points.iter().map(|p| p.1));
        let mut chart = ChartBuilder::on(&root)
            .caption("Test-set posterior means by label", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(format!("{axis} 1"))
            .y_desc(format!("{axis} 2"))
            .draw()
            .map_err(plot_error)?;
        let mut present: Vec<i64> = labels.to_vec();
        present.sort_unstable();
        present.dedup();
        for label in present {
            let color = LATENT_COLORS[label.rem_euclid(10) as usize];
            let pts = points
                .iter()
                .zip(labels)
                .filter(|(_, l)| **l == label)
                .map(|(p, _)| *p);
            chart
                .draw_series(pts.map(|p| Circle::new(p, 2, color.mix(0.6).filled())))
                .map_err(plot_error)?
                .label(
                    usize::try_from(label)
                        .ok()
                        .and_then(|l| class_names.get(l))
                        .cloned()
                        .unwrap_or_else(|| format!("label {label}")),
                )
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, color.filled()));
        }
        draw_legend(&mut chart)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

pub fn write_latent_svg(
    path: &Path,
    points: &[(f64, f64)],
    labels: &[i64],
    class_names: &[String],
    axis: &str,
) -> Result<()> {
    let svg = latent_svg(points, labels, class_names, axis)?;
    crate::native::atomic::write_bytes(path, svg.as_bytes())
}

/// Test-loss curves of several runs overlaid (`tch-vae compare`): one `(label, [(epoch,
/// test loss)])` per run, each in its own colour.
pub fn compare_svg(runs: &[(String, Vec<(f64, f64)>)]) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let points = || runs.iter().flat_map(|(_, p)| p.iter());
        let (x0, x1) = padded_range(points().map(|p| p.0));
        let (y0, y1) = padded_range(points().map(|p| p.1));
        let mut chart = ChartBuilder::on(&root)
            .caption("Test loss by epoch", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("test loss, nats per image")
            .draw()
            .map_err(plot_error)?;
        for (i, (label, pts)) in runs.iter().enumerate() {
            let color = LATENT_COLORS[i % LATENT_COLORS.len()];
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(plot_error)?
                .label(label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(plot_error)?;
        }
        draw_legend(&mut chart)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// The data's range with 5% head-room, never empty.
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3 * hi.abs().max(1.0));
    (lo - pad, hi + pad)
}

/// The legend of every chart: upper right, on a translucent white box.
fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(plot_error)
}

fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("cannot draw the figure: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::metrics::PassMetrics;

    #[test]
    fn svg_has_labelled_axes_and_every_series() {
        let rows: Vec<EpochMetrics> = (1..=3)
            .map(|e| {
                let p = PassMetrics {
                    loss: 300.0 - e as f64,
                    recon: 280.0,
                    kl: 20.0,
                    kl_mu: 5.0,
                    kl_var: 15.0,
                };
                EpochMetrics::new(e, p, p, 0.1, 1.0, 1.0)
            })
            .collect();
        let svg = loss_svg(&rows).unwrap();
        assert!(svg.starts_with("<svg"));
        for needle in [
            "epoch",
            "nats per image",
            "test loss (-ELBO)",
            "train L_mu",
            "test L_sigma^2",
        ] {
            assert!(svg.contains(needle), "missing {needle}");
        }
        // A single epoch still draws (degenerate x range).
        assert!(loss_svg(&rows[..1]).is_ok());
    }

    #[test]
    fn the_latent_legend_names_classes_where_it_can() {
        let points = [(0.0, 0.0), (1.0, 1.0), (2.0, 0.5)];
        let names = vec!["T-shirt/top".to_string(), "Trouser".to_string()];
        let svg = latent_svg(&points, &[0, 1, 7], &names, "z").unwrap();
        assert!(
            svg.contains("T-shirt/top") && svg.contains("Trouser"),
            "{svg}"
        );
        assert!(svg.contains("label 7") && !svg.contains("label 0"));
    }
}
