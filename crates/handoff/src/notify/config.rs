//! The notification configuration file (`notify.toml`): where alerts go.
//!
//! A *channel* is one destination: a Slack-compatible incoming webhook
//! (`kind = "slack"`), a generic signed JSON webhook (`kind = "webhook"`)
//! or email over SMTP (`kind = "email"`).
//! A channel *carries* an alert when one of the alert's recipient roles is
//! in its `roles` list (no list: every role). Its *template* is the
//! minijinja text of the message; each kind ships a default. A webhook's
//! *secret* is read from an environment variable (`secret_env`) or a file
//! (`secret_file`), never written in the configuration, and never printed;
//! an SMTP password likewise (`password_env`, `password_file`).

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono_tz::Tz;
use minijinja::Environment;
use serde::Deserialize;
use toml::Spanned;

use super::email::{EmailTarget, Security};
use super::render;

/// The default for `max_attempts`: the eighth failed attempt gives up.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;
/// The default for `batch`: outbox entries taken per delivery step.
pub const DEFAULT_BATCH: usize = 100;
/// The default for `timeout_secs`: how long one POST may take.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;

/// A secret that never shows in `Debug` or `Display` output (or logs).
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret's bytes, for signing only.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What a channel speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// A Slack-compatible incoming webhook: `{"text": "..."}`.
    Slack,
    /// A generic JSON webhook, signed with HMAC-SHA256.
    Webhook,
    /// Email over SMTP.
    Email,
}

/// One configured destination.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Names the channel in logs and errors.
    pub name: String,
    pub kind: ChannelKind,
    /// Where slack and webhook channels POST; empty for email.
    pub url: String,
    /// The SMTP server and addresses (email channels only).
    pub email: Option<EmailTarget>,
    /// Recipient roles carried; `None` carries every role.
    pub roles: Option<Vec<String>>,
    /// The signing secret (webhooks only).
    pub secret: Option<Secret>,
}

impl Channel {
    /// Whether this channel carries an alert for recipients of `role`.
    pub fn carries(&self, role: &str) -> bool {
        self.roles
            .as_ref()
            .is_none_or(|roles| roles.iter().any(|r| r == role))
    }

    /// The template name of this channel in [`Channels::templates`].
    pub(super) fn template_name(&self) -> &str {
        &self.name
    }
}

/// Every channel, their compiled templates, and the delivery settings.
#[derive(Debug)]
pub struct Channels {
    pub channels: Vec<Channel>,
    /// The organisation's zone, in which messages show instants.
    pub timezone: Tz,
    /// Failed attempts after which an alert is given up (status failed).
    pub max_attempts: u32,
    /// Outbox entries taken per delivery step.
    pub batch: usize,
    /// How long one POST may take, in seconds.
    pub timeout_secs: u64,
    /// Where the dashboard lives; the weekly review's Slack summary links
    /// to it.
    pub dashboard_url: Option<String>,
    pub(super) templates: Environment<'static>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    timezone: Option<Spanned<String>>,
    max_attempts: Option<u32>,
    batch: Option<usize>,
    timeout_secs: Option<u64>,
    dashboard_url: Option<String>,
    #[serde(default)]
    channel: Vec<Spanned<RawChannel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    name: String,
    kind: ChannelKind,
    url: Option<String>,
    roles: Option<Vec<String>>,
    /// Refused: present only to say why.
    secret: Option<Spanned<toml::Value>>,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    template: Option<String>,
    template_file: Option<PathBuf>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    tls: Option<Security>,
    username: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    from: Option<String>,
    to: Option<Vec<String>>,
    subject: Option<String>,
}

impl Channels {
    /// Reads a channel file; errors name `file:line:column` and what is wrong.
    pub fn load(path: &Path) -> Result<Channels> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading notification config {}", path.display()))?;
        Channels::parse(path, &text)
    }

    /// Compiles channel configuration text; `path` names it in messages and
    /// anchors relative `secret_file` and `template_file` paths.
    pub fn parse(path: &Path, text: &str) -> Result<Channels> {
        let at = |span: Option<Range<usize>>| match span {
            Some(s) => {
                let before = &text[..s.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!("{}:{line}:{col}", path.display())
            }
            None => path.display().to_string(),
        };
        let raw: RawConfig = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{}: {}", at(e.span()), e.message().trim_end()))?;
        let timezone = match &raw.timezone {
            None => Tz::UTC,
            Some(tz) => tz.get_ref().parse::<Tz>().map_err(|_| {
                anyhow::anyhow!(
                    "{}: unknown timezone {:?}; use an IANA name such as \"Europe/Berlin\"",
                    at(Some(tz.span())),
                    tz.get_ref()
                )
            })?,
        };
        let max_attempts = raw.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if max_attempts == 0 {
            anyhow::bail!("{}: max_attempts must be at least 1", path.display());
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut templates = render::environment();
        let mut channels = Vec::new();
        for spanned in raw.channel {
            let where_ = at(Some(spanned.span()));
            let raw = spanned.into_inner();
            if let Some(inline) = &raw.secret {
                anyhow::bail!(
                    "{}: a secret is never written inline; name an environment variable \
                     with secret_env or a file with secret_file",
                    at(Some(inline.span()))
                );
            }
            let channel = compile_channel(base, raw, &mut templates, &channels)
                .with_context(|| format!("{where_}: in a [[channel]]"))?;
            channels.push(channel);
        }
        Ok(Channels {
            channels,
            timezone,
            max_attempts,
            batch: raw.batch.unwrap_or(DEFAULT_BATCH).max(1),
            timeout_secs: raw.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS),
            dashboard_url: raw.dashboard_url,
            templates,
        })
    }
}

/// Checks one channel, reads its secret and compiles its template.
fn compile_channel(
    base: &Path,
    raw: RawChannel,
    templates: &mut Environment<'static>,
    earlier: &[Channel],
) -> Result<Channel> {
    let name = raw.name;
    if earlier.iter().any(|c| c.name == name) {
        anyhow::bail!("channel name {name:?} is used twice; give each channel its own name");
    }
    let secret = match raw.kind {
        ChannelKind::Webhook => Some(read_secret(
            &name,
            base,
            ("secret_env", raw.secret_env),
            ("secret_file", raw.secret_file),
        )?),
        _ if raw.secret_env.is_some() || raw.secret_file.is_some() => anyhow::bail!(
            "channel {name:?}: only webhook channels are signed; remove secret_env/secret_file"
        ),
        _ => None,
    };
    let (url, email) = match raw.kind {
        ChannelKind::Email => {
            if raw.url.is_some() {
                anyhow::bail!("channel {name:?}: an email channel has smtp_host, not url");
            }
            let password = match (raw.password_env, raw.password_file) {
                (None, None) => None,
                (env, file) => Some(read_secret(
                    &name,
                    base,
                    ("password_env", env),
                    ("password_file", file),
                )?),
            };
            let server = Server {
                host: raw.smtp_host,
                port: raw.smtp_port,
                tls: raw.tls,
                username: raw.username,
                password,
            };
            let target = email_target(&name, server, raw.from, raw.to)?;
            (String::new(), Some(target))
        }
        ChannelKind::Slack | ChannelKind::Webhook => {
            let email_keys = [
                raw.smtp_host.is_some(),
                raw.smtp_port.is_some(),
                raw.tls.is_some(),
                raw.username.is_some(),
                raw.password_env.is_some(),
                raw.password_file.is_some(),
                raw.from.is_some(),
                raw.to.is_some(),
                raw.subject.is_some(),
            ];
            if email_keys.contains(&true) {
                anyhow::bail!(
                    "channel {name:?}: smtp_host, smtp_port, tls, username, password_env, \
                     password_file, from, to and subject belong to email channels only"
                );
            }
            let url = raw.url.ok_or_else(|| {
                anyhow::anyhow!("channel {name:?}: a slack or webhook channel needs a url")
            })?;
            (url, None)
        }
    };
    let source = match (raw.template, raw.template_file) {
        (Some(_), Some(_)) => {
            anyhow::bail!("channel {name:?}: give template or template_file, not both")
        }
        (Some(text), None) => text,
        (None, Some(file)) => {
            let file = base.join(file);
            std::fs::read_to_string(&file).with_context(|| {
                format!("channel {name:?}: reading template_file {}", file.display())
            })?
        }
        (None, None) => render::default_template(raw.kind).to_string(),
    };
    templates
        .add_template_owned(name.clone(), source)
        .map_err(|e| anyhow::anyhow!("channel {name:?}: template: {e}"))?;
    if raw.kind == ChannelKind::Email {
        let subject = raw
            .subject
            .unwrap_or_else(|| super::email::DEFAULT_SUBJECT.into());
        let subject_name = format!("{name}{}", render::SUBJECT_SUFFIX);
        templates
            .add_template_owned(subject_name.clone(), subject)
            .map_err(|e| anyhow::anyhow!("channel {name:?}: subject: {e}"))?;
        render::check(templates, &subject_name).map_err(|e| {
            anyhow::anyhow!(
                "channel {name:?}: subject: {e}; the variables are {}",
                render::VARIABLES
            )
        })?;
    }
    render::check(templates, &name).map_err(|e| {
        anyhow::anyhow!(
            "channel {name:?}: template: {e}; the variables are {}",
            render::VARIABLES
        )
    })?;
    Ok(Channel {
        name,
        kind: raw.kind,
        url,
        email,
        roles: raw.roles,
        secret,
    })
}

/// Reads a secret from the environment variable or the file named by a
/// pair of keys (`("secret_env", ..)`, `("secret_file", ..)`); exactly one
/// must be given.
fn read_secret(
    name: &str,
    base: &Path,
    env: (&str, Option<String>),
    file: (&str, Option<PathBuf>),
) -> Result<Secret> {
    let (env_key, file_key) = (env.0, file.0);
    match (env.1, file.1) {
        (Some(_), Some(_)) => {
            anyhow::bail!("channel {name:?}: give {env_key} or {file_key}, not both")
        }
        (None, None) => anyhow::bail!(
            "channel {name:?}: a webhook needs {env_key} (an environment variable's name) \
             or {file_key} (a file holding the secret)"
        ),
        (Some(var), None) => {
            let value = std::env::var(&var).map_err(|_| {
                anyhow::anyhow!(
                    "channel {name:?}: environment variable {var} ({env_key}) is not set"
                )
            })?;
            non_empty(name, value)
        }
        (None, Some(path)) => {
            let path = base.join(path);
            let value = std::fs::read_to_string(&path).with_context(|| {
                format!("channel {name:?}: reading {file_key} {}", path.display())
            })?;
            non_empty(name, value.trim_end_matches(['\r', '\n']).to_string())
        }
    }
}

/// An email channel's SMTP server settings as written.
struct Server {
    host: Option<String>,
    port: Option<u16>,
    tls: Option<Security>,
    username: Option<String>,
    password: Option<Secret>,
}

/// Checks an email channel's server and addresses.
fn email_target(
    name: &str,
    server: Server,
    from: Option<String>,
    to: Option<Vec<String>>,
) -> Result<EmailTarget> {
    let need = |key: &str| anyhow::anyhow!("channel {name:?}: an email channel needs {key}");
    let host = server.host.ok_or_else(|| need("smtp_host"))?;
    let security = server.tls.unwrap_or_default();
    if server.username.is_some() != server.password.is_some() {
        anyhow::bail!(
            "channel {name:?}: SMTP AUTH needs both username and password_env/password_file"
        );
    }
    let from = from.ok_or_else(|| need("from"))?;
    let to = to.unwrap_or_default();
    if to.is_empty() {
        return Err(need("to = [\"address\", ...]"));
    }
    for address in std::iter::once(&from).chain(&to) {
        address
            .parse::<lettre::message::Mailbox>()
            .map_err(|e| anyhow::anyhow!("channel {name:?}: address {address:?}: {e}"))?;
    }
    Ok(EmailTarget {
        host,
        port: server.port.unwrap_or(security.default_port()),
        security,
        username: server.username,
        password: server.password,
        from,
        to,
    })
}

fn non_empty(name: &str, value: String) -> Result<Secret> {
    if value.is_empty() {
        anyhow::bail!("channel {name:?}: the secret is empty");
    }
    Ok(Secret::new(value))
}
