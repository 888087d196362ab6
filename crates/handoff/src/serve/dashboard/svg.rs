//! The dashboard's charts, drawn on the server as SVG text.
//!
//! A *chart* is a fixed-size SVG (`viewBox` 0 0 [`W`] [`H`], scaled by the
//! page's CSS) with bars or a line per period, and *reference lines*: a
//! target or an alert threshold, each labelled with its value. Every number
//! drawn comes from the caller (the scorecard and the policy); this module
//! only places them. Text is XML-escaped. ARCHITECTURE.md says why the
//! charts are drawn here rather than by a script library in the browser.

use std::fmt::Write as _;

/// Width and height of every chart's coordinate space.
const W: f64 = 480.0;
const H: f64 = 200.0;
/// Margins: left (axis labels), right, top, bottom (period labels).
const ML: f64 = 44.0;
const MR: f64 = 64.0;
const MT: f64 = 12.0;
const MB: f64 = 34.0;

/// A horizontal line across a chart at `value`, e.g. a target.
pub struct RefLine {
    pub label: String,
    pub value: f64,
    /// CSS class: `target` or `alert`.
    pub class: &'static str,
}

/// How values read on axes and labels.
#[derive(Clone, Copy)]
pub enum Unit {
    Count,
    Share,
    Days,
}

impl Unit {
    pub fn fmt(self, v: f64) -> String {
        match self {
            Unit::Count => {
                if (v - v.round()).abs() < 1e-9 {
                    format!("{v:.0}")
                } else {
                    format!("{v:.1}")
                }
            }
            Unit::Share => format!("{:.0}%", v * 100.0),
            Unit::Days if v < 10.0 && (v - v.round()).abs() > 1e-9 => format!("{v:.1}d"),
            Unit::Days => format!("{v:.0}d"),
        }
    }
}

/// XML-escapes text for an element or an attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The top of the value axis: the largest value or line, with headroom,
/// and 100% for shares that reach it.
fn top(values: &[Option<f64>], lines: &[RefLine], unit: Unit) -> f64 {
    let most = values
        .iter()
        .flatten()
        .chain(lines.iter().map(|l| &l.value))
        .fold(0.0_f64, |m, v| m.max(*v));
    match unit {
        Unit::Share => 1.0_f64.max(most),
        _ if most <= 0.0 => 1.0,
        _ => nice_ceiling(most * 1.05),
    }
}

/// The smallest of 1, 2, 2.5, 5 or 10 times a power of ten at or above
/// `v`, so that the axis reads in round numbers.
fn nice_ceiling(v: f64) -> f64 {
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|c| *c >= v - 1e-9)
        .unwrap_or(10.0 * power)
}

fn open(out: &mut String, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" aria-label="{}">"#,
        esc(title)
    );
}

fn y_of(v: f64, max: f64) -> f64 {
    MT + (H - MT - MB) * (1.0 - (v / max).clamp(0.0, 1.0))
}

/// Axis, gridlines at 0, half and top, and the period labels (every
/// other one when there are many).
fn frame(out: &mut String, labels: &[String], max: f64, unit: Unit) {
    for frac in [0.0, 0.5, 1.0] {
        let y = y_of(max * frac, max);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{ML}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - MR,
            ML - 4.0,
            y + 3.5,
            esc(&unit.fmt(max * frac))
        );
    }
    let step = (W - ML - MR) / labels.len().max(1) as f64;
    let every = if labels.len() > 8 { 2 } else { 1 };
    for (i, label) in labels.iter().enumerate() {
        if i % every != (labels.len() - 1) % every {
            continue;
        }
        let x = ML + step * (i as f64 + 0.5);
        let _ = write!(
            out,
            r#"<text class="axis" x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
            H - MB + 14.0,
            esc(short(label))
        );
    }
}

/// `2026-W10` reads `W10`; `2026-03` stays.
fn short(label: &str) -> &str {
    label
        .split_once("-W")
        .map_or(label, |(_, w)| &label[label.len() - w.len() - 1..])
}

fn ref_lines(out: &mut String, lines: &[RefLine], max: f64, unit: Unit) {
    for l in lines {
        let y = y_of(l.value, max);
        let _ = write!(
            out,
            r#"<line class="ref {}" x1="{ML}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="ref-label {}" x="{}" y="{:.1}">{} {}</text>"#,
            l.class,
            W - MR,
            l.class,
            W - MR + 3.0,
            // Targets read just above their line, alerts just below, so
            // that a target and an alert close together both show.
            if l.class == "alert" {
                y + 10.0
            } else {
                y - 2.0
            },
            esc(&l.label),
            esc(&unit.fmt(l.value))
        );
    }
}

/// Bars, one per label; a missing value draws no bar.
pub fn bars(
    title: &str,
    labels: &[String],
    values: &[Option<f64>],
    lines: &[RefLine],
    unit: Unit,
) -> String {
    let mut out = String::new();
    open(&mut out, title);
    let max = top(values, lines, unit);
    frame(&mut out, labels, max, unit);
    let step = (W - ML - MR) / labels.len().max(1) as f64;
    for (i, (label, v)) in labels.iter().zip(values).enumerate() {
        let Some(v) = v else { continue };
        let y = y_of(*v, max);
        let _ = write!(
            out,
            r#"<rect class="bar" x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}"><title>{}: {}</title></rect>"#,
            ML + step * i as f64 + step * 0.15,
            step * 0.7,
            (H - MB - y).max(0.0),
            esc(label),
            esc(&unit.fmt(*v))
        );
    }
    ref_lines(&mut out, lines, max, unit);
    out.push_str("</svg>");
    out
}

/// One line per series over the labels, with a dot at each value; gaps
/// where a value is missing.
pub fn lines(
    title: &str,
    labels: &[String],
    series: &[(&str, Vec<Option<f64>>)],
    refs: &[RefLine],
    unit: Unit,
) -> String {
    let mut out = String::new();
    open(&mut out, title);
    let all: Vec<Option<f64>> = series.iter().flat_map(|(_, v)| v.iter().copied()).collect();
    let max = top(&all, refs, unit);
    frame(&mut out, labels, max, unit);
    let step = (W - ML - MR) / labels.len().max(1) as f64;
    for (n, (name, values)) in series.iter().enumerate() {
        let mut path = String::new();
        let mut pen_up = true;
        for (i, v) in values.iter().enumerate() {
            let Some(v) = v else {
                pen_up = true;
                continue;
            };
            let (x, y) = (ML + step * (i as f64 + 0.5), y_of(*v, max));
            let _ = write!(path, "{}{x:.1} {y:.1} ", if pen_up { "M" } else { "L" });
            pen_up = false;
            let _ = write!(
                out,
                r#"<circle class="dot s{n}" cx="{x:.1}" cy="{y:.1}" r="2.5"><title>{} {}: {}</title></circle>"#,
                esc(name),
                esc(&labels[i]),
                esc(&unit.fmt(*v))
            );
        }
        let _ = write!(out, r#"<path class="line s{n}" d="{}"/>"#, path.trim_end());
    }
    // A legend when there is more than one series.
    if series.len() > 1 {
        for (n, (name, _)) in series.iter().enumerate() {
            let _ = write!(
                out,
                r#"<text class="legend s{n}" x="{}" y="{}">● {}</text>"#,
                ML + 4.0 + 130.0 * n as f64,
                H - 4.0,
                esc(name)
            );
        }
    }
    ref_lines(&mut out, refs, max, unit);
    out.push_str("</svg>");
    out
}

/// The funnel: one horizontal bar per stage, as wide as its count against
/// the first, with its conversion text (e.g. `62% of MQA`).
pub fn funnel(title: &str, stages: &[(&str, u32, Option<String>)]) -> String {
    let mut out = String::new();
    open(&mut out, title);
    let most = stages.iter().map(|s| s.1).max().unwrap_or(0).max(1) as f64;
    let row = (H - MT - 8.0) / stages.len().max(1) as f64;
    for (i, (name, count, conv)) in stages.iter().enumerate() {
        let y = MT + row * i as f64;
        let width = (W - 200.0) * f64::from(*count) / most;
        let x = 80.0 + (W - 200.0 - width) / 2.0;
        let _ = write!(
            out,
            r#"<text class="axis" x="74" y="{:.1}" text-anchor="end">{}</text><rect class="bar funnel" x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/><text class="value" x="{:.1}" y="{:.1}" text-anchor="middle">{count}</text>"#,
            y + row * 0.55,
            esc(name),
            y + row * 0.1,
            width.max(1.0),
            row * 0.7,
            80.0 + (W - 200.0) / 2.0,
            y + row * 0.55,
        );
        if let Some(c) = conv {
            let _ = write!(
                out,
                r#"<text class="conv" x="{}" y="{:.1}">{}</text>"#,
                W - 112.0,
                y + row * 0.55,
                esc(c)
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// A histogram: bars over bins labelled on the axis, a vertical line at
/// `line` bins from the left (the SLA), and a count on each bar.
pub fn histogram(title: &str, bins: &[(String, u32)], line: Option<(f64, String)>) -> String {
    let mut out = String::new();
    open(&mut out, title);
    let values: Vec<Option<f64>> = bins.iter().map(|b| Some(f64::from(b.1))).collect();
    let max = top(&values, &[], Unit::Count);
    let labels: Vec<String> = bins.iter().map(|b| b.0.clone()).collect();
    frame(&mut out, &labels, max, Unit::Count);
    let step = (W - ML - MR) / bins.len().max(1) as f64;
    for (i, (label, count)) in bins.iter().enumerate() {
        let y = y_of(f64::from(*count), max);
        let _ = write!(
            out,
            r#"<rect class="bar" x="{:.1}" y="{y:.1}" width="{:.1}" height="{:.1}"><title>{}: {count}</title></rect>"#,
            ML + step * i as f64 + step * 0.08,
            step * 0.84,
            (H - MB - y).max(0.0),
            esc(label)
        );
    }
    if let Some((at, label)) = line {
        let x = ML + step * at;
        let _ = write!(
            out,
            r#"<line class="ref alert" x1="{x:.1}" x2="{x:.1}" y1="{MT}" y2="{}"/><text class="ref-label alert" x="{:.1}" y="{}">{}</text>"#,
            H - MB,
            x + 3.0,
            MT + 10.0,
            esc(&label)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(esc(r#"a<b & "c"'"#), "a&lt;b &amp; &quot;c&quot;&#39;");
        let svg = bars("x", &["<w>".into()], &[Some(1.0)], &[], Unit::Count);
        assert!(svg.contains("&lt;w&gt;") && !svg.contains("<w>"), "{svg}");
    }

    #[test]
    fn a_reference_line_sits_at_its_value() {
        // Shares run 0..100%: an 80% line is 80% of the way up the plot,
        // y = MT + (H - MT - MB) * 0.2 = 12 + 154 * 0.2 = 42.8.
        let svg = bars(
            "acc",
            &["2026-W01".into()],
            &[Some(0.5)],
            &[RefLine {
                label: "target".into(),
                value: 0.8,
                class: "target",
            }],
            Unit::Share,
        );
        assert!(svg.contains(r#"y1="42.8" y2="42.8""#), "{svg}");
        // Its label just above it.
        assert!(svg.contains(r#"y="40.8">target 80%"#), "{svg}");
        assert!(svg.contains("target 80%"), "{svg}");
    }

    #[test]
    fn count_axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(1.05), 2.0);
        assert_eq!(nice_ceiling(9.45), 10.0);
        assert_eq!(nice_ceiling(21.0), 25.0);
        assert_eq!(nice_ceiling(300.0), 500.0);
        assert_eq!(nice_ceiling(1.0), 1.0);
    }

    #[test]
    fn week_labels_are_shortened() {
        assert_eq!(short("2026-W10"), "W10");
        assert_eq!(short("2026-03"), "2026-03");
    }
}
