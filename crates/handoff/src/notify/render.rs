//! Message texts: alerts rendered through each channel's minijinja template.
//!
//! The *context* a template sees is the alert's fields (`id`, `rule`,
//! `kind`, `account`, `commitment`, `tier`, `owner`, `message`, `reassign`,
//! `metric`, `evidence`, `at` in RFC 3339 UTC) plus `at_local` (the breach
//! or alert instant in the organisation's zone, e.g. "2026-03-02 14:00
//! EST"), `recipients` (the carried recipients as text, e.g.
//! "sales_manager mgr-7"), `recipient_list` (the same as a list of
//! `{role, who}`) and `channel` (the channel's name).

use anyhow::Result;
use chrono::{TimeZone, Utc};
use chrono_tz::Tz;
use handoff_core::engine::{Alert, AlertKind, Recipient};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::config::ChannelKind;
use super::{slack, webhook};

/// Appended to a channel's name to name its subject template.
pub(super) const SUBJECT_SUFFIX: &str = ".subject";

/// The names a template may use, for error messages.
pub(super) const VARIABLES: &str = "id, rule, kind, at, at_local, account, commitment, tier, \
     owner, recipients, recipient_list, reassign, message, metric, evidence, channel";

/// A template environment that refuses unknown variables, so a typo in a
/// user's template is an error at load time, not a blank in a message.
pub(super) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env
}

/// The shipped template of a channel kind.
pub(super) fn default_template(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Slack | ChannelKind::Email => slack::DEFAULT_TEMPLATE,
        ChannelKind::Webhook => webhook::DEFAULT_TEMPLATE,
    }
}

#[derive(Serialize)]
struct Context<'a> {
    #[serde(flatten)]
    alert: &'a Alert,
    at_local: String,
    recipients: String,
    recipient_list: &'a [Recipient],
    channel: &'a str,
}

/// One recipient as text: the role, then who holds it (or "nobody").
fn recipient_text(r: &Recipient) -> String {
    format!(
        "{} {}",
        r.role,
        r.who.as_deref().unwrap_or("(nobody holds the role)")
    )
}

/// Renders `alert` for `channel` (also the template's name).
pub(super) fn render(
    env: &Environment<'static>,
    channel: &str,
    alert: &Alert,
    carried: &[Recipient],
    zone: Tz,
) -> Result<String> {
    let at_local = zone
        .from_utc_datetime(&alert.at.naive_utc())
        .format("%Y-%m-%d %H:%M %Z")
        .to_string();
    let recipients = carried
        .iter()
        .map(recipient_text)
        .collect::<Vec<_>>()
        .join(", ");
    let ctx = Context {
        alert,
        at_local,
        recipients,
        recipient_list: carried,
        channel,
    };
    let template = env.get_template(channel)?;
    Ok(template.render(&ctx)?.trim().to_string())
}

/// Renders a channel's template against a sample breach and a sample metric
/// alert, so undefined variables and filter errors show at load time.
pub(super) fn check(env: &Environment<'static>, channel: &str) -> Result<()> {
    let recipient = Recipient {
        role: "sales_manager".into(),
        who: Some("mgr-1".into()),
        deliver_at: None,
    };
    let mut alert = Alert {
        id: "sample".into(),
        rule: "sample_rule".into(),
        at: Utc
            .with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
            .single()
            .unwrap_or_default(),
        kind: AlertKind::Breach,
        account: Some("acct-1".into()),
        commitment: Some("commitment-1".into()),
        tier: Some("tier_1".into()),
        owner: Some("rep-1".into()),
        recipients: vec![recipient.clone()],
        reassign: false,
        message: "sample".into(),
        metric: None,
        evidence: vec![],
        step: 0,
        policy_version: 0,
    };
    render(
        env,
        channel,
        &alert,
        std::slice::from_ref(&recipient),
        Tz::UTC,
    )?;
    alert.kind = AlertKind::Metric;
    alert.account = None;
    alert.owner = None;
    render(
        env,
        channel,
        &alert,
        std::slice::from_ref(&recipient),
        Tz::UTC,
    )?;
    Ok(())
}
