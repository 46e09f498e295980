//! The run's curves as a PNG: loss (train and validation) on the left,
//! accuracy (or, for regression, MAE) on the right, drawn with `plotters`.

use std::path::Path;
use std::sync::Once;

use ingot_core::{Error, Result};
use plotters::prelude::*;

use crate::EpochRecord;

/// DejaVu Sans, subset to ASCII (see assets/FONT-LICENSE.txt).
static FONT: &[u8] = include_bytes!("../assets/plot-font.ttf");

fn plot_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::File {
        path: path.to_path_buf(),
        msg: format!("cannot draw the plot: {e}"),
    }
}

/// Draws one panel with a line per named series that has values.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    history: &[EpochRecord],
    title: &str,
    series: &[(&str, &str, RGBColor)],
) -> std::result::Result<(), String> {
    let points = |key: &str| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|r| {
                r.metrics
                    .get(key)
                    .filter(|v| v.is_finite())
                    .map(|&v| (r.epoch as f64, v))
            })
            .collect()
    };
    let all: Vec<(f64, f64)> = series.iter().flat_map(|(k, _, _)| points(k)).collect();
    if all.is_empty() {
        return Ok(());
    }
    let (lo, hi) = all
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &(_, v)| {
            (l.min(v), h.max(v))
        });
    let pad = ((hi - lo) * 0.05).max(1e-6);
    let last = history.last().map_or(1, |r| r.epoch).max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(0.8..last + 0.2, (lo - pad)..(hi + pad))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_labels(last.min(10.0) as usize + 1)
        .draw()
        .map_err(|e| e.to_string())?;
    for (key, label, color) in series {
        let pts = points(key);
        if pts.is_empty() {
            continue;
        }
        let color = *color;
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(*label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

/// Writes `history`'s curves to `path` (PNG, 1000 x 400).
///
/// ```
/// use ingot::train::{plot_history, EpochRecord};
/// let history: Vec<EpochRecord> = (1..=3)
///     .map(|e| EpochRecord { epoch: e, metrics: [("train_loss".to_string(), 1.0 / e as f64)].into() })
///     .collect();
/// let path = std::env::temp_dir().join("ingot-doc-plot.png");
/// plot_history(&history, &path)?;
/// assert!(std::fs::metadata(&path)?.len() > 1000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn plot_history(history: &[EpochRecord], path: &Path) -> Result<()> {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The font is valid (checked by the tests); a failure only loses labels.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
    let (w, h) = (1000u32, 400u32);
    let mut buffer = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_error(path, e))?;
        let (left, right) = root.split_horizontally(w / 2);
        let blue = RGBColor(31, 119, 180);
        let orange = RGBColor(255, 127, 14);
        panel(
            &left,
            history,
            "loss",
            &[
                ("train_loss", "train", blue),
                ("val_loss", "validation", orange),
            ],
        )
        .map_err(|e| plot_error(path, e))?;
        let regression = history.iter().any(|r| r.metrics.contains_key("train_mae"));
        let (title, train, val) = if regression {
            ("mean absolute error", "train_mae", "val_mae")
        } else {
            ("accuracy", "train_accuracy", "val_accuracy")
        };
        panel(
            &right,
            history,
            title,
            &[(train, "train", blue), (val, "validation", orange)],
        )
        .map_err(|e| plot_error(path, e))?;
        root.present().map_err(|e| plot_error(path, e))?;
    }
    let img =
        image::RgbImage::from_raw(w, h, buffer).ok_or_else(|| plot_error(path, "buffer size"))?;
    let tmp = path.with_extension("png.tmp");
    img.save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|e| plot_error(path, e))?;
    std::fs::rename(&tmp, path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
