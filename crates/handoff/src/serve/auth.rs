//! Bearer tokens: making them, and checking them on each request.
//!
//! A *token* is `hdf_` followed by 64 hex digits (32 random bytes from the
//! operating system). The store keeps only its SHA-256, so the text is shown
//! once, by `handoff token create`. A *caller* is the holder of the token a
//! request presents, with its *role*: admin, ingest, manager or viewer.
//! Every role may read; only ingest and admin may post events; only admin
//! and manager may record people's actions (accept, reject, activity,
//! disposition, reassign), which a sync token has no business making.

use anyhow::Result;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use clap::ValueEnum;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;
use crate::cli::{TokenCreateArgs, TokenRole};
use crate::store::{Location, Store, StoredToken};

/// What every token starts with, so that a leaked one is recognisable
/// (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "hdf_";

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// GET anything.
    Read,
    /// POST /v1/events.
    Ingest,
    /// POST /v1/accounts/{id}/accept and the other people's actions.
    Act,
}

impl Action {
    fn allowed(self, role: TokenRole) -> bool {
        match self {
            Action::Read => true,
            Action::Ingest => matches!(role, TokenRole::Admin | TokenRole::Ingest),
            Action::Act => matches!(role, TokenRole::Admin | TokenRole::Manager),
        }
    }

    /// The names of the roles that may do it, in the order `handoff token
    /// create --role` lists them; the OpenAPI document shows this list.
    pub fn roles(self) -> Vec<&'static str> {
        TokenRole::value_variants()
            .iter()
            .filter(|r| self.allowed(**r))
            .map(|r| role_name(*r))
            .collect()
    }

    fn describe(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Ingest => "post events",
            Action::Act => "record a person's action on an account",
        }
    }
}

/// The holder of the token a request presented.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name, e.g. `crm-sync`.
    pub name: String,
    /// What it may do.
    pub role: TokenRole,
}

impl Caller {
    /// A 403 unless the caller's role may do `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if action.allowed(self.role) {
            return Ok(());
        }
        let may = action.roles();
        Err(ApiError::Forbidden {
            message: format!(
                "token {:?} has role {}, which may not {}; roles that may: {}",
                self.name,
                role_name(self.role),
                action.describe(),
                may.join(", ")
            ),
            detail: json!({ "role": role_name(self.role), "roles_allowed": may }),
        })
    }
}

/// A role's name as written on the command line and in the store.
pub fn role_name(role: TokenRole) -> &'static str {
    match role {
        TokenRole::Admin => "admin",
        TokenRole::Ingest => "ingest",
        TokenRole::Manager => "manager",
        TokenRole::Viewer => "viewer",
    }
}

/// A new random token.
pub fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex(&bytes))
}

/// The SHA-256 of a token's text, lowercase hex: what the store keeps.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Makes a token for `name` with `role`, stores its hash, and returns the
/// token text (the only time it exists outside its holder).
pub fn create_token(
    store: &mut Store,
    name: &str,
    role: TokenRole,
    created_at: &str,
) -> Result<String> {
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty(),
        "--name is blank; name the token after its holder, e.g. crm-sync"
    );
    let token = new_token();
    store.add_token(&StoredToken {
        name: name.to_string(),
        role: role_name(role).to_string(),
        sha256: hash_token(&token),
        created_at: created_at.to_string(),
    })?;
    Ok(token)
}

/// Runs `handoff token create`: the token goes to stdout, alone, so a
/// script can capture it; the note about it to stderr.
pub fn run_create(args: &TokenCreateArgs) -> Result<u8> {
    let db = Location::from_arg(&args.db)?;
    let mut store = Store::open_at(&db)?;
    let now = chrono::Utc::now().to_rfc3339();
    let token = create_token(&mut store, &args.name, args.role, &now)?;
    println!("{token}");
    eprintln!(
        "handoff: token {:?} (role {}) created in {}; only its hash is stored, so this is \
         the one time it is shown: keep it in a secret store",
        args.name.trim(),
        role_name(args.role),
        db
    );
    Ok(crate::cli::EXIT_OK)
}

/// The token text of an `Authorization: Bearer <token>` header.
fn bearer(parts: &Parts) -> Result<String, ApiError> {
    let missing = || ApiError::Unauthorized {
        message: "no bearer token: send `Authorization: Bearer <token>`; \
                  `handoff token create` makes one"
            .into(),
        invalid_token: false,
    };
    let value = parts.headers.get(AUTHORIZATION).ok_or_else(missing)?;
    let text = value.to_str().map_err(|_| missing())?.trim();
    let (scheme, token) = text.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    Ok(token.trim().to_string())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = match bearer(parts) {
            Ok(token) => token,
            // No bearer header: a signed-in dashboard page's session cookie
            // stands for its token (serve::dashboard).
            Err(missing) => {
                return super::dashboard::session_caller(parts, state)?.ok_or(missing);
            }
        };
        let hash = hash_token(&token);
        let found = state.read(move |store| store.find_token(&hash)).await?;
        let Some(stored) = found else {
            return Err(ApiError::Unauthorized {
                message: "unknown token: it is not in this service's database (check \
                          --db, or make one with `handoff token create`)"
                    .into(),
                invalid_token: true,
            });
        };
        let role = TokenRole::from_str(&stored.role, false).map_err(|_| {
            ApiError::internal(anyhow::anyhow!(
                "token {:?} has unknown role {:?} in the store",
                stored.name,
                stored.role
            ))
        })?;
        Ok(Caller {
            name: stored.name,
            role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_hex_and_differ() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 2 * TOKEN_BYTES);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert!(a[4..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn only_ingest_and_admin_may_post_events() {
        let caller = |role| Caller {
            name: "t".into(),
            role,
        };
        for role in TokenRole::value_variants() {
            assert!(caller(*role).require(Action::Read).is_ok());
        }
        assert!(caller(TokenRole::Admin).require(Action::Ingest).is_ok());
        assert!(caller(TokenRole::Ingest).require(Action::Ingest).is_ok());
        assert!(caller(TokenRole::Manager).require(Action::Ingest).is_err());
        assert!(caller(TokenRole::Viewer).require(Action::Ingest).is_err());
    }

    #[test]
    fn only_admin_and_manager_may_act_on_accounts() {
        let caller = |role| Caller {
            name: "t".into(),
            role,
        };
        assert!(caller(TokenRole::Admin).require(Action::Act).is_ok());
        assert!(caller(TokenRole::Manager).require(Action::Act).is_ok());
        assert!(caller(TokenRole::Ingest).require(Action::Act).is_err());
        assert!(caller(TokenRole::Viewer).require(Action::Act).is_err());
    }
}
