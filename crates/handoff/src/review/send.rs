//! Sending the weekly review through the notification channels.
//!
//! A channel *carries* the review when it carries one of the roles in the
//! policy's `[review] notify`. Email gets the whole review: the HTML inline
//! with the plain-text rendering as the alternative part, under the
//! Message-ID `<review-WEEK.CHANNEL@handoff>`. Slack gets a summary (what
//! was met and missed, acceptance, SAL to SQO, the recommendations) and a
//! link to the dashboard (`dashboard_url` in `notify.toml`). A webhook gets
//! the summary and the review's JSON, signed like an alert, with the
//! Idempotency-Key `review:WEEK`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use handoff_core::review::Review;
use handoff_core::Policy;
use serde_json::json;

use super::render;
use super::view::{self, View};
use crate::notify::{email, Channel, ChannelKind, Channels};

/// The review rendered once for every channel.
pub struct Rendered {
    /// The ISO week, e.g. `2026-W48`.
    pub week: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// The chat summary, without the dashboard link.
    pub summary: String,
    pub json: serde_json::Value,
}

/// Renders `review` for the channels.
pub fn rendered(policy: &Policy, review: &Review) -> anyhow::Result<Rendered> {
    let v = view::build(policy, review);
    let html = render::render(policy, review, crate::cli::ReviewFormat::Html)?;
    let json: serde_json::Value = serde_json::from_str(&render::to_json(policy, review)?)?;
    Ok(Rendered {
        week: v.week.clone(),
        subject: subject(&v),
        html,
        text: render::to_text(&v),
        summary: summary(&v),
        json,
    })
}

fn subject(v: &View) -> String {
    let recommended = v.recommendations.iter().filter(|r| r.triggered).count();
    let mut s = format!(
        "[handoff] Weekly revenue review {}: {} of {} commitments met",
        v.week, v.met, v.judged
    );
    if recommended > 0 {
        s.push_str(&format!(", {recommended} recommendation(s)"));
    }
    s
}

/// The chat summary: one line per point.
pub fn summary(v: &View) -> String {
    let mut lines = vec![format!(
        "*Weekly revenue review {}* ({}, {})",
        v.week, v.org, v.dates
    )];
    lines.push(format!(
        "• {} of {} commitments met this week",
        v.met, v.judged
    ));
    for m in &v.misses {
        lines.push(format!(
            "• Missed: {} ({}) {} against {}",
            m.id, m.owner, m.actual, m.target
        ));
    }
    lines.push(format!(
        "• Acceptance {} (95% interval {})",
        v.acceptance.rate, v.acceptance.interval
    ));
    lines.push(format!("• SAL to SQO {}", v.arr.sal_to_sqo_week));
    for r in v.recommendations.iter().filter(|r| r.triggered) {
        lines.push(format!(
            "• Recommended: {}. Because {}.",
            r.action, r.reason
        ));
    }
    lines.join("\n")
}

/// Whether `channel` carries the review to any of `roles`.
pub fn carries(channel: &Channel, roles: &[String]) -> bool {
    roles.iter().any(|r| channel.carries(r))
}

/// Sends the review to one channel; `Err` says why it failed.
pub async fn send(
    channels: &Channels,
    client: &reqwest::Client,
    channel: &Channel,
    r: &Rendered,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let timeout = Duration::from_secs(channels.timeout_secs);
    let body = match (channel.kind, &channel.email) {
        (ChannelKind::Email, Some(target)) => {
            let id = format!("<review-{}.{}@handoff>", r.week, channel.name);
            return email::send_alternative(target, &id, &r.subject, &r.text, &r.html, timeout)
                .await;
        }
        (ChannelKind::Email, None) => return Err("email channel without a server".into()),
        (ChannelKind::Slack, _) => {
            let text = match &channels.dashboard_url {
                Some(url) => format!("{}\n<{url}|Open the dashboard>", r.summary),
                None => r.summary.clone(),
            };
            json!({ "text": text }).to_string()
        }
        (ChannelKind::Webhook, _) => json!({
            "channel": channel.name,
            "text": r.summary,
            "review": r.json,
        })
        .to_string(),
    };
    let key = format!("review:{}", r.week);
    crate::notify::post(client, channel, &key, body.into_bytes(), now).await
}
