//! Email over SMTP: one message per alert to the channel's fixed `to` list.
//!
//! The *subject* and the *body* are both templates (the body defaults to
//! the Slack text). The message's `Message-ID` is derived from the alert id
//! (`<alert id@handoff>`), the dedupe key for mail: a retry resends the same
//! Message-ID, which mail systems and people can recognise as a repeat.
//! *Transport security* is `starttls` (upgrade a plain connection, port
//! 587 by default), `tls` (TLS from the start, port 465) or `none` (plain,
//! port 25; for a relay on the same host or tests only).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::MultiPart;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

use super::config::Secret;

/// The shipped subject line.
pub const DEFAULT_SUBJECT: &str = "\
[handoff] {% if kind == \"breach\" %}SLA breach{% else %}Metric alert{% endif %}: {{ rule }}\
{% if account %} on account {{ account }}{% endif %}";

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (refused if not offered).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption at all.
    None,
}

impl Security {
    /// The usual port for this kind of connection.
    pub fn default_port(self) -> u16 {
        match self {
            Security::Starttls => 587,
            Security::Tls => 465,
            Security::None => 25,
        }
    }
}

/// Where and how an email channel sends.
#[derive(Debug, Clone)]
pub struct EmailTarget {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// User name and password, when the server wants AUTH.
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from: String,
    pub to: Vec<String>,
}

/// Builds and sends one plain-text message; `Err` says why it failed.
pub async fn send(
    target: &EmailTarget,
    alert_id: &str,
    subject: &str,
    body: &str,
    timeout: Duration,
) -> Result<(), String> {
    let message = addressed(target, &format!("<{alert_id}@handoff>"), subject)?
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .map_err(|e| format!("building the message: {e}"))?;
    deliver(target, message, timeout).await
}

/// Sends one message with a plain-text part and an HTML part
/// (`multipart/alternative`: a mail client shows the HTML, or the text
/// when it cannot), under `message_id` (e.g. `<review-2026-W48@handoff>`).
pub async fn send_alternative(
    target: &EmailTarget,
    message_id: &str,
    subject: &str,
    text: &str,
    html: &str,
    timeout: Duration,
) -> Result<(), String> {
    let body = MultiPart::alternative_plain_html(text.to_string(), html.to_string());
    let message = addressed(target, message_id, subject)?
        .multipart(body)
        .map_err(|e| format!("building the message: {e}"))?;
    deliver(target, message, timeout).await
}

/// A message builder with the channel's sender and recipients.
fn addressed(
    target: &EmailTarget,
    message_id: &str,
    subject: &str,
) -> Result<lettre::message::MessageBuilder, String> {
    let mut message = Message::builder()
        .from(
            target
                .from
                .parse()
                .map_err(|e| format!("from address: {e}"))?,
        )
        .subject(subject)
        .message_id(Some(message_id.to_string()));
    for to in &target.to {
        message = message.to(to.parse().map_err(|e| format!("to address {to:?}: {e}"))?);
    }
    Ok(message)
}

/// Connects to the channel's server as configured and sends `message`.
async fn deliver(target: &EmailTarget, message: Message, timeout: Duration) -> Result<(), String> {
    let host = target.host.as_str();
    let builder = match target.security {
        Security::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        Security::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        )),
    }
    .map_err(|e| format!("smtp {host}: {e}"))?;
    let mut builder = builder.port(target.port).timeout(Some(timeout));
    if let (Some(user), Some(password)) = (&target.username, &target.password) {
        let password = String::from_utf8_lossy(password.expose()).into_owned();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    builder
        .build()
        .send(message)
        .await
        .map_err(|e| format!("smtp {host}:{}: {e}", target.port))?;
    Ok(())
}
