//! The OpenAPI 3.1 document of the HTTP API, generated from the code.
//!
//! Each route handler carries a `#[utoipa::path]` annotation (its method,
//! path, parameters, body, answers and the roles it admits); the schemas
//! are derived from the Rust types the answers are made of: the core's
//! event model and records (its `openapi` feature) and the wrapping in
//! [`schemas`]. [`ApiDoc`] gathers them, and two *modifiers* finish the
//! document: the bearer security scheme, and a line naming the roles each
//! operation admits. The roles come from
//! [`Action::roles`](crate::serve::auth::Action::roles), the same rule
//! the service enforces, and are also given as the extension
//! `x-handoff-roles` for tools.
//!
//! The document is served at GET /v1/openapi.json (with a token, as every
//! endpoint but the health ones) and printed by `handoff openapi`.

pub mod schemas;

use std::sync::OnceLock;

use anyhow::{Context, Result};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};

use super::routes;
use schemas::{
    BadRequest, Forbidden, InternalError, NotFound, PayloadTooLarge, Unauthorized, Unprocessable,
};

/// Name of the security scheme in the document.
pub const BEARER: &str = "bearer";

/// Name of the extension listing the roles an operation admits.
pub const ROLES_EXTENSION: &str = "x-handoff-roles";

/// The API's operations and their components.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "handoff",
        description = "The HTTP API of `handoff serve`: ingest events, read the SLA \
                       scorecard, accounts, clocks, breaches and alerts, record people's \
                       actions. Every endpoint but /healthz and /readyz needs a bearer token \
                       (`handoff token create`); each operation names the roles it admits. \
                       A caller's mistake answers 4xx with a JSON body `{\"error\", \
                       \"detail\"}`; a fault of the service an opaque 500. See docs/api.md.",
    ),
    paths(
        routes::health::healthz,
        routes::health::readyz,
        routes::metrics::get_metrics,
        routes::openapi::get_openapi,
        routes::events::post_events,
        routes::scorecard::get_scorecard,
        routes::accounts::get_account,
        routes::actions::accept,
        routes::actions::reject,
        routes::actions::activity,
        routes::actions::disposition,
        routes::actions::reassign,
        routes::clocks::get_clocks,
        routes::clocks::get_breaches,
        routes::alerts::get_alerts,
    ),
    components(responses(
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        PayloadTooLarge,
        Unprocessable,
        InternalError,
    )),
    security(("bearer" = [])),
    modifiers(&BearerScheme, &RolesInDescriptions),
    tags(
        (name = "events", description = "Ingestion of events from CRMs and marketing tools."),
        (name = "scorecard", description = "The SLA scorecard, as `handoff report` prints it."),
        (name = "accounts", description = "One account's derived record."),
        (name = "actions", description = "People's actions on an account. Each is recorded \
                                          as an event appended to the store (id `api:` and 32 \
                                          random hex digits, `at` the service's clock unless \
                                          the body gives it), on disk before the 201. The body \
                                          is a JSON object of the action's fields; an empty \
                                          body counts as `{}`. Each call makes a new event: \
                                          for retries that must be safe, post the event with \
                                          an id of your own to /v1/events."),
        (name = "clocks", description = "SLA clocks and breaches, judged as of an instant."),
        (name = "alerts", description = "The alerts in the outbox and their delivery."),
        (name = "operations", description = "Health, readiness, metrics, this document."),
    ),
)]
pub struct ApiDoc;

/// Adds the bearer token scheme.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut Document) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("hdf_ and 64 hex digits")
            .description(Some(
                "A token made by `handoff token create --role ROLE --name NAME`; the \
                 service keeps only its SHA-256.",
            ))
            .build();
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
    }
}

/// Ends each operation's description with the roles it admits (from its
/// `x-handoff-roles` extension), or with "No token." for one without.
struct RolesInDescriptions;

impl Modify for RolesInDescriptions {
    fn modify(&self, doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in operations.into_iter().flatten() {
                let roles = op
                    .extensions
                    .as_ref()
                    .and_then(|e| e.get(ROLES_EXTENSION))
                    .and_then(|v| v.as_array())
                    .map(|roles| {
                        let names: Vec<&str> = roles.iter().filter_map(|r| r.as_str()).collect();
                        format!("Roles: {}.", names.join(", "))
                    });
                let line = roles.unwrap_or_else(|| "No token.".to_string());
                op.description = Some(match op.description.take() {
                    Some(text) if !text.is_empty() => format!("{text}\n\n{line}"),
                    _ => line,
                });
            }
        }
    }
}

/// The document, built once.
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(ApiDoc::openapi)
}

/// The document as pretty JSON, built once; what GET /v1/openapi.json sends.
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        // The document is maps, strings and numbers: serialising it to a
        // String cannot fail.
        let mut text = document()
            .to_pretty_json()
            .expect("the OpenAPI document serialises");
        text.push('\n');
        text
    })
}

/// Runs `handoff openapi`: prints the document to stdout. A reader that
/// stops early (`| head`) is not an error.
pub fn run_cli() -> Result<u8> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out
        .write_all(document_json().as_bytes())
        .and_then(|()| out.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("writing the OpenAPI document to stdout")?
        }
        _ => Ok(crate::cli::EXIT_OK),
    }
}
