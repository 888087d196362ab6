//! The review's renderings: HTML and Markdown through minijinja templates,
//! JSON through serde, and a plain-text summary for a terminal.
//!
//! The HTML is one self-contained file: styles in its head, charts as
//! inline SVG, no script, no external resource, so that it reads the same
//! in a browser, in an email client and on paper.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use handoff_core::review::Review;
use handoff_core::Policy;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::json;

use super::view::{self, View};
use crate::cli::ReviewFormat;
use crate::report::{heading, Table};

/// Template names; the extension decides the escaping.
const HTML: &str = "review.html";
const MARKDOWN: &str = "review.md";
pub(super) const CHART: &str = "charts.html";

/// The templates, compiled once per rendering.
fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_template(HTML, include_str!("templates/review.html.j2"))?;
    env.add_template(MARKDOWN, include_str!("templates/review.md.j2"))?;
    env.add_template(CHART, include_str!("templates/charts.html.j2"))?;
    Ok(env)
}

/// Renders the review in `format`.
pub fn render(policy: &Policy, review: &Review, format: ReviewFormat) -> Result<String> {
    match format {
        ReviewFormat::Json => to_json(policy, review),
        ReviewFormat::Html => template(HTML, &view::build(policy, review)),
        ReviewFormat::Markdown => template(MARKDOWN, &view::build(policy, review)),
        ReviewFormat::Table => Ok(to_text(&view::build(policy, review))),
    }
}

fn template(name: &str, view: &View) -> Result<String> {
    let env = environment()?;
    env.get_template(name)?
        .render(view)
        .with_context(|| format!("rendering the {name} template"))
}

/// The review as JSON, with the policy's name and currency.
pub fn to_json(policy: &Policy, review: &Review) -> Result<String> {
    let mut v = serde_json::to_value(review)?;
    v["policy"] = json!({ "name": policy.name, "currency": policy.currency });
    Ok(serde_json::to_string_pretty(&v)? + "\n")
}

/// A plain-text review for a terminal: the same figures as the HTML, no
/// charts.
pub fn to_text(v: &View) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Weekly revenue review {} · {} · {} ({}) · as of {}\n",
        v.week, v.org, v.dates, v.zone, v.as_of
    );
    heading(&mut out, false, "Recommendations");
    for r in &v.recommendations {
        let mark = if r.triggered {
            "RECOMMENDED"
        } else {
            "not called for"
        };
        let _ = writeln!(out, "  {mark}: {}: {}", r.action, r.reason);
    }
    out.push('\n');

    heading(&mut out, false, "Commitments");
    let mut t = Table::new(&[
        "commitment",
        "owner",
        "target",
        "this week",
        "n",
        "status",
        "last week",
        "change",
        "4 weeks",
        "13 weeks",
    ]);
    for c in &v.commitments {
        t.push(vec![
            c.id.clone(),
            c.owner.clone(),
            c.target.clone(),
            c.week.clone(),
            c.n.clone(),
            c.status.clone(),
            c.previous.clone(),
            c.change.clone(),
            c.trailing_4.clone(),
            c.trailing_13.clone(),
        ]);
    }
    t.render(false, &mut out);

    heading(&mut out, false, "What missed, and who owns it");
    if v.misses.is_empty() {
        out.push_str("  Nothing missed this week.\n");
    }
    for m in &v.misses {
        let _ = writeln!(
            out,
            "  {} ({}): {} against {}",
            m.id, m.owner, m.actual, m.target
        );
        for w in &m.who {
            let _ = writeln!(out, "    {w}");
        }
    }
    out.push('\n');

    heading(&mut out, false, "Acceptance and lead quality");
    let a = &v.acceptance;
    let _ = writeln!(
        out,
        "  acceptance {} (95% interval {}): {} accepted, {} rejected, {} undecided; \
         13 weeks {}",
        a.rate, a.interval, a.accepted, a.rejected, a.pending, a.long_rate
    );
    for (reason, n) in &a.reasons {
        let _ = writeln!(out, "    {reason}: {n}");
    }
    out.push('\n');

    heading(&mut out, false, "SAL to SQO by time to first touch");
    let mut t = Table::new(&[
        "first touch",
        "SALs, week",
        "SQO",
        "rate",
        "SALs, 13 weeks",
        "SQO",
        "rate",
        "95% interval",
    ]);
    for (w, l) in v.speed_week.iter().zip(&v.speed_long) {
        t.push(vec![
            l.label.clone(),
            w.sals.to_string(),
            w.sqos.to_string(),
            w.rate.clone(),
            l.sals.to_string(),
            l.sqos.to_string(),
            l.rate.clone(),
            l.interval.clone(),
        ]);
    }
    t.render(false, &mut out);
    let _ = writeln!(out, "  backlog: {}\n", v.backlog);

    if let Some(s) = &v.sal_volume {
        heading(&mut out, false, "SAL volume");
        let _ = writeln!(
            out,
            "  {}: {} this week ({}) against {}; 13 weeks {} against {}\n",
            s.id, s.actual, s.status, s.target, s.long_actual, s.long_target
        );
    }

    heading(&mut out, false, "ARR");
    let _ = writeln!(out, "  SAL to SQO, week: {}", v.arr.sal_to_sqo_week);
    let _ = writeln!(out, "  SAL to SQO, 13 weeks: {}", v.arr.sal_to_sqo_long);
    let mut t = Table::new(&["pipeline velocity", "this week", "13 weeks"]);
    for (f, w, l) in &v.arr.velocity {
        t.push(vec![f.clone(), w.clone(), l.clone()]);
    }
    t.render(false, &mut out);
    let _ = writeln!(out, "  week: {}", v.arr.formula_week);
    let _ = writeln!(out, "  13 weeks: {}", v.arr.formula_long);
    let _ = writeln!(out, "  influenced, week: {}", v.arr.influenced_week);
    let _ = writeln!(out, "  influenced, 13 weeks: {}\n", v.arr.influenced_long);

    heading(&mut out, false, "Attribution");
    for table in &v.attribution {
        let _ = writeln!(out, "{}\n  {}", table.title, table.note);
        let mut head = vec![table.key.as_str()];
        head.extend(table.models.iter().map(String::as_str));
        let mut t = Table::new(&head);
        for (key, cells) in &table.rows {
            let mut row = vec![key.clone()];
            row.extend(cells.iter().cloned());
            t.push(row);
        }
        t.render(false, &mut out);
    }
    out
}
