//! Charts of the HTML review as inline SVG, drawn on the server.
//!
//! A *chart* is a list of shapes (rectangles, lines, text) with their
//! coordinates worked out here; the template `chart.svg.j2` writes them as
//! SVG elements, escaping every label. No script runs in the reader's mail
//! client or browser, and a printed page shows the same picture.

use serde::Serialize;

/// One SVG picture.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    /// What the chart shows, for screen readers and as a tooltip.
    pub title: String,
    pub shapes: Vec<Shape>,
}

/// One element of a chart.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shape {
    Rect {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: String,
    },
    Line {
        x1: f64,
        y1: f64,
        x2: f64,
        y2: f64,
        stroke: String,
        width: f64,
        dashed: bool,
    },
    Text {
        x: f64,
        y: f64,
        text: String,
        /// `start`, `middle` or `end`.
        anchor: String,
        size: f64,
        fill: String,
    },
}

/// Ink for axes and labels.
const INK: &str = "#333333";
const GRID: &str = "#cccccc";
/// Bars: a calm blue; the target line: a warm red.
pub const BAR: &str = "#0072B2";
const TARGET: &str = "#D55E00";
/// One colour per attribution model (the Okabe-Ito palette, readable with
/// colour blindness), in `Model::ALL` order.
pub const MODEL_COLOURS: [&str; 7] = [
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
];

fn text(x: f64, y: f64, t: impl Into<String>, anchor: &str, size: f64) -> Shape {
    Shape::Text {
        x,
        y,
        text: t.into(),
        anchor: anchor.into(),
        size,
        fill: INK.into(),
    }
}

fn line(x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str, width: f64, dashed: bool) -> Shape {
    Shape::Line {
        x1,
        y1,
        x2,
        y2,
        stroke: stroke.into(),
        width,
        dashed,
    }
}

fn rect(x: f64, y: f64, w: f64, h: f64, fill: &str) -> Shape {
    Shape::Rect {
        x,
        y,
        w,
        h: h.max(0.0),
        fill: fill.into(),
    }
}

/// One vertical bar: its value, an optional interval drawn as a whisker,
/// and the labels under it and above it.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: Option<f64>,
    pub whisker: Option<(f64, f64)>,
    pub note: String,
}

/// Vertical bars over a 0..`max` axis, with an optional dashed target
/// line; `fmt` writes the axis's top value.
pub fn bars(
    title: &str,
    bars: &[Bar],
    max: f64,
    target: Option<(f64, String)>,
    fmt: impl Fn(f64) -> String,
) -> Chart {
    let (left, top, plot_h) = (44.0, 18.0, 150.0);
    // Wide slots for a few bars, narrower ones so that many fit a page.
    let slot = (720.0 / bars.len().max(1) as f64).min(66.0);
    let width = left + slot * bars.len() as f64 + 10.0;
    let height = top + plot_h + 40.0;
    let max = if max > 0.0 { max } else { 1.0 };
    let y = |v: f64| top + plot_h - (v / max).clamp(0.0, 1.0) * plot_h;
    let mut shapes = vec![
        line(left, top, left, top + plot_h, GRID, 1.0, false),
        line(
            left,
            top + plot_h,
            width - 6.0,
            top + plot_h,
            INK,
            1.0,
            false,
        ),
        text(left - 4.0, top + 4.0, fmt(max), "end", 10.0),
        text(left - 4.0, top + plot_h, fmt(0.0), "end", 10.0),
    ];
    for (i, b) in bars.iter().enumerate() {
        let x = left + slot * i as f64 + slot * 0.18;
        let w = slot * 0.64;
        if let Some(v) = b.value {
            shapes.push(rect(x, y(v), w, top + plot_h - y(v), BAR));
        }
        if let Some((lo, hi)) = b.whisker {
            let mid = x + w / 2.0;
            shapes.push(line(mid, y(lo), mid, y(hi), INK, 1.5, false));
            shapes.push(line(mid - 6.0, y(lo), mid + 6.0, y(lo), INK, 1.5, false));
            shapes.push(line(mid - 6.0, y(hi), mid + 6.0, y(hi), INK, 1.5, false));
        }
        let top_of = b
            .whisker
            .map(|(_, hi)| hi)
            .into_iter()
            .chain(b.value)
            .fold(0.0_f64, f64::max);
        shapes.push(text(x + w / 2.0, y(top_of) - 4.0, &b.note, "middle", 10.0));
        shapes.push(text(
            x + w / 2.0,
            top + plot_h + 14.0,
            &b.label,
            "middle",
            9.0,
        ));
    }
    if let Some((t, label)) = target {
        let ty = y(t);
        shapes.push(line(left, ty, width - 6.0, ty, TARGET, 1.5, true));
        shapes.push(Shape::Text {
            x: width - 6.0,
            y: ty - 4.0,
            text: label,
            anchor: "end".into(),
            size: 10.0,
            fill: TARGET.into(),
        });
    }
    Chart {
        width,
        height,
        title: title.into(),
        shapes,
    }
}

/// Horizontal bars, one per row, labelled on the left and valued on the
/// right.
pub fn hbars(title: &str, rows: &[(String, f64, String)]) -> Chart {
    let (label_w, bar_w, row_h, top) = (210.0, 300.0, 20.0, 6.0);
    let width = label_w + bar_w + 80.0;
    let height = top + row_h * rows.len() as f64 + 6.0;
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let mut shapes = Vec::new();
    for (i, (label, v, shown)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let w = bar_w * (v / max).clamp(0.0, 1.0);
        shapes.push(text(label_w - 6.0, y + 13.0, clip(label, 34), "end", 11.0));
        shapes.push(rect(label_w, y + 3.0, w, row_h - 6.0, BAR));
        shapes.push(text(label_w + w + 4.0, y + 13.0, shown, "start", 11.0));
    }
    Chart {
        width,
        height,
        title: title.into(),
        shapes,
    }
}

/// Horizontal bars in groups: one group per key, one bar per series (the
/// attribution models), with a legend on top.
pub fn grouped_hbars(title: &str, series: &[&str], groups: &[(String, Vec<f64>)]) -> Chart {
    let (label_w, bar_w, bar_h, legend_h) = (170.0, 360.0, 6.0, 34.0);
    let group_h = bar_h * series.len() as f64 + 10.0;
    let width = label_w + bar_w + 20.0;
    let height = legend_h + group_h * groups.len() as f64 + 4.0;
    let max = groups
        .iter()
        .flat_map(|g| g.1.iter().copied())
        .fold(0.0_f64, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let mut shapes = Vec::new();
    for (i, name) in series.iter().enumerate() {
        let (col, row) = (i % 4, i / 4);
        let x = 10.0 + 135.0 * col as f64;
        let y = 4.0 + 14.0 * row as f64;
        shapes.push(rect(
            x,
            y,
            10.0,
            10.0,
            MODEL_COLOURS[i % MODEL_COLOURS.len()],
        ));
        shapes.push(text(x + 14.0, y + 9.0, *name, "start", 10.0));
    }
    for (g, (label, values)) in groups.iter().enumerate() {
        let y0 = legend_h + group_h * g as f64;
        let mid = y0 + group_h / 2.0;
        shapes.push(text(label_w - 6.0, mid + 3.0, clip(label, 28), "end", 11.0));
        for (i, v) in values.iter().enumerate() {
            let w = bar_w * (v / max).clamp(0.0, 1.0);
            let colour = MODEL_COLOURS[i % MODEL_COLOURS.len()];
            shapes.push(rect(
                label_w,
                y0 + 5.0 + bar_h * i as f64,
                w,
                bar_h - 1.0,
                colour,
            ));
        }
    }
    Chart {
        width,
        height,
        title: title.into(),
        shapes,
    }
}

/// A small trend line of weekly values, with the target as a dashed line;
/// missing weeks leave gaps.
pub fn sparkline(title: &str, values: &[Option<f64>], target: Option<f64>) -> Chart {
    let (width, height, pad) = (132.0, 30.0, 3.0);
    let hi = values
        .iter()
        .flatten()
        .copied()
        .chain(target)
        .fold(0.0_f64, f64::max);
    let hi = if hi > 0.0 { hi } else { 1.0 };
    let step = (width - 2.0 * pad) / (values.len().max(2) - 1) as f64;
    let x = |i: usize| pad + step * i as f64;
    let y = |v: f64| height - pad - (v / hi).clamp(0.0, 1.0) * (height - 2.0 * pad);
    let mut shapes = Vec::new();
    if let Some(t) = target {
        shapes.push(line(pad, y(t), width - pad, y(t), TARGET, 1.0, true));
    }
    for (i, pair) in values.windows(2).enumerate() {
        if let (Some(a), Some(b)) = (pair[0], pair[1]) {
            shapes.push(line(x(i), y(a), x(i + 1), y(b), BAR, 1.5, false));
        }
    }
    if let Some((i, Some(v))) = values.iter().enumerate().next_back() {
        shapes.push(rect(x(i) - 2.0, y(*v) - 2.0, 4.0, 4.0, BAR));
    }
    Chart {
        width,
        height,
        title: title.into(),
        shapes,
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}
