//! The Slack-compatible incoming webhook: the body is `{"text": "..."}`,
//! the text being the channel's rendered template. Slack, Mattermost,
//! Rocket.Chat and Microsoft Teams' Slack-compatible hooks accept it.

use serde_json::json;

/// The shipped message: a summary line with the rule, the account, its
/// owner, the instant in the organisation's zone and the recipients.
pub const DEFAULT_TEMPLATE: &str = "\
{% if kind == \"breach\" %}SLA breach{% else %}Metric alert{% endif %}: {{ rule }}\
{% if account %} on account {{ account }}{% endif %}\
{% if owner %} (owner {{ owner }}){% endif %} at {{ at_local }}\
{% if metric %} ({{ metric.value }} over {{ metric.n }}, {{ metric.period }}){% endif %} \
for {{ recipients }}. {{ message }}";

/// The request body for a rendered text.
pub fn body(text: &str) -> Vec<u8> {
    json!({ "text": text }).to_string().into_bytes()
}
