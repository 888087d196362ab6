//! The generic JSON webhook: the body is `{"channel", "text", "alert"}`,
//! where `alert` is the alert exactly as the engine raised it and `text` is
//! the channel's rendered template. Requests are signed (see [`super::sign`]).

use serde_json::json;

/// The shipped text: one plain summary line.
pub const DEFAULT_TEMPLATE: &str = "\
{% if kind == \"breach\" %}SLA breach{% else %}Metric alert{% endif %}: {{ rule }}\
{% if account %} on account {{ account }}{% endif %}\
{% if owner %} (owner {{ owner }}){% endif %} at {{ at_local }} for {{ recipients }}";

/// The request body: the channel name, the rendered text and the alert.
pub fn body(channel: &str, text: &str, alert: &serde_json::Value) -> Vec<u8> {
    json!({ "channel": channel, "text": text, "alert": alert })
        .to_string()
        .into_bytes()
}
