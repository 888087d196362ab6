//! Bearer tokens: making them, and checking them on each request.
//!
//! A *token* is `hdf_` followed by 64 hex digits (32 random bytes from the
//! operating system). The store keeps only its SHA-256, so the text is shown
//! once, by `handoff token create`. A *caller* is the holder of the token a
//! request presents, with its *role*: admin, ingest, manager, rep,
//! marketing or viewer. Every role may read; only ingest and admin may post
//! events; only admin, manager and rep may record people's actions (accept,
//! reject, activity, disposition, reassign), which a sync token has no
//! business making.
//!
//! A caller's *scope* says which accounts it sees ([`Scope`]): a rep the
//! accounts they hold, a manager given a team that team's, marketing the
//! marketing-sourced ones, everyone else all. Every read route narrows its
//! replay to the scope (`routes::replay_for`), so an account outside it is
//! simply not there: a 404, in a list absent, in a scorecard not counted.
//!
//! Dashboard *users* sign in with a name and a password instead of a
//! token; the store keeps the password's argon2id hash (`handoff user
//! create`).

use std::collections::{BTreeMap, HashSet};

use anyhow::{Context, Result};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use clap::ValueEnum;
use handoff_core::engine::{AccountRecord, Snapshot};
use handoff_core::event::RepFacts;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::AppState;
use crate::cli::{TokenCreateArgs, TokenRole, UserCreateArgs};
use crate::store::{Location, Store, StoredToken, StoredUser};

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
    /// GET what covers every account (the alerts' outbox, the metrics):
    /// not for the roles always narrowed to some accounts.
    ReadAll,
    /// POST /v1/events.
    Ingest,
    /// POST /v1/accounts/{id}/accept and the other people's actions.
    Act,
}

impl Action {
    fn allowed(self, role: TokenRole) -> bool {
        match self {
            Action::Read => true,
            Action::ReadAll => !matches!(role, TokenRole::Rep | TokenRole::Marketing),
            Action::Ingest => matches!(role, TokenRole::Admin | TokenRole::Ingest),
            Action::Act => matches!(role, TokenRole::Admin | TokenRole::Manager | TokenRole::Rep),
        }
    }

    /// Whether `role` may do it.
    pub fn allowed_for(self, role: TokenRole) -> bool {
        self.allowed(role)
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
            Action::ReadAll => "read what covers every account",
            Action::Ingest => "post events",
            Action::Act => "record a person's action on an account",
        }
    }
}

/// Which accounts a caller sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every account.
    All,
    /// The accounts whose owner is on this team.
    Team(String),
    /// The accounts this rep holds.
    Rep(String),
    /// Marketing-sourced accounts: a channel, a marketing touch or an MQA.
    Marketing,
}

impl Scope {
    /// The scope of `role` given the stored scope column; an error names
    /// what is inconsistent (a rep without a rep id).
    pub fn of(role: TokenRole, stored: Option<&str>) -> Result<Scope> {
        let stored = stored.map(str::trim).filter(|s| !s.is_empty());
        match (role, stored) {
            (TokenRole::Rep, Some(rep)) => Ok(Scope::Rep(rep.to_string())),
            (TokenRole::Rep, None) => {
                anyhow::bail!("role rep needs --rep: the rep id whose accounts it sees")
            }
            (TokenRole::Manager, Some(team)) => Ok(Scope::Team(team.to_string())),
            (TokenRole::Marketing, _) => Ok(Scope::Marketing),
            (_, None) => Ok(Scope::All),
            (other, Some(_)) => anyhow::bail!(
                "role {} takes no --rep or --team: only rep (--rep) and manager (--team) \
                 are narrowed",
                role_name(other)
            ),
        }
    }

    /// The stored scope column of `role` created with `--rep`/`--team`.
    pub fn column(
        role: TokenRole,
        rep: Option<&str>,
        team: Option<&str>,
    ) -> Result<Option<String>> {
        let column = match (role, rep, team) {
            (_, Some(_), Some(_)) => anyhow::bail!("give --rep or --team, not both"),
            (TokenRole::Rep, Some(r), None) => Some(r.trim().to_string()),
            (TokenRole::Manager, None, Some(t)) => Some(t.trim().to_string()),
            (_, None, None) => None,
            (_, Some(_), None) => anyhow::bail!("--rep goes with --role rep only"),
            (_, None, Some(_)) => anyhow::bail!("--team goes with --role manager only"),
        };
        // Checks the pair is whole (a rep has a rep id).
        Scope::of(role, column.as_deref())?;
        Ok(column)
    }

    /// Whether the scope takes in `account`: a rep's when they hold it; a
    /// team's when its holder is on the team (by the rep events), or, for an
    /// holder the organisation does not know, when its latest hand-off went
    /// to the team; marketing's when it has a channel, a marketing touch or
    /// an MQA.
    pub fn sees(&self, reps: &BTreeMap<String, RepFacts>, account: &AccountRecord) -> bool {
        match self {
            Scope::All => true,
            Scope::Rep(r) => account.owner.as_deref() == Some(r.as_str()),
            Scope::Team(t) => {
                let known = account.owner.as_ref().and_then(|o| reps.get(o));
                match known {
                    Some(facts) => facts.team.as_deref() == Some(t.as_str()),
                    None => {
                        account
                            .cycles
                            .last()
                            .and_then(|c| c.handoff_team.as_deref())
                            == Some(t.as_str())
                    }
                }
            }
            Scope::Marketing => {
                account.channel.is_some()
                    || account.marketing_touches > 0
                    || account.cycles.iter().any(|c| c.mqa_at.is_some())
            }
        }
    }

    /// Keeps only the accounts the scope sees, and the alerts about them
    /// (alerts about no account, such as a rate alert, stay).
    pub fn narrow(&self, snapshot: &mut Snapshot) {
        if *self == Scope::All {
            return;
        }
        let reps = &snapshot.reps;
        snapshot.accounts.retain(|a| self.sees(reps, a));
        let kept: HashSet<&str> = snapshot.accounts.iter().map(|a| a.id.as_str()).collect();
        snapshot
            .alerts
            .retain(|a| a.account.as_deref().is_none_or(|id| kept.contains(id)));
    }

    /// A copy of the accounts the scope sees that `also` keeps, with the
    /// alerts about them (and those about no account).
    pub fn narrowed(
        &self,
        snapshot: &Snapshot,
        also: impl Fn(&BTreeMap<String, RepFacts>, &AccountRecord) -> bool,
    ) -> Snapshot {
        let accounts = snapshot
            .accounts
            .iter()
            .filter(|a| self.sees(&snapshot.reps, a) && also(&snapshot.reps, a))
            .cloned()
            .collect::<Vec<_>>();
        let kept: HashSet<&str> = accounts.iter().map(|a| a.id.as_str()).collect();
        let alerts = snapshot
            .alerts
            .iter()
            .filter(|a| a.account.as_deref().is_none_or(|id| kept.contains(id)))
            .cloned()
            .collect();
        Snapshot {
            as_of: snapshot.as_of,
            events: snapshot.events,
            accounts,
            alerts,
            reps: snapshot.reps.clone(),
        }
    }

    /// How the scope reads in messages and on the page.
    pub fn describe(&self) -> String {
        match self {
            Scope::All => "every account".into(),
            Scope::Team(t) => format!("team {t}'s accounts"),
            Scope::Rep(r) => format!("rep {r}'s accounts"),
            Scope::Marketing => "marketing-sourced accounts".into(),
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
    /// Which accounts it sees.
    pub scope: Scope,
}

impl Caller {
    /// A 403 unless the caller sees every account: for the routes that
    /// cannot be narrowed to some (the outbox of alerts, the metrics).
    pub fn require_all(&self) -> Result<(), ApiError> {
        if self.scope == Scope::All {
            return Ok(());
        }
        Err(ApiError::Forbidden {
            message: format!(
                "{:?} sees {} only; this endpoint covers every account (use \
                 /v1/scorecard, /v1/clocks, /v1/breaches, which are narrowed to what you see)",
                self.name,
                self.scope.describe()
            ),
            detail: json!({ "role": role_name(self.role) }),
        })
    }

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
        TokenRole::Rep => "rep",
        TokenRole::Marketing => "marketing",
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
    create_scoped_token(store, name, role, None, created_at)
}

/// [`create_token`] with a scope column ([`Scope::column`]).
pub fn create_scoped_token(
    store: &mut Store,
    name: &str,
    role: TokenRole,
    scope: Option<String>,
    created_at: &str,
) -> Result<String> {
    Scope::of(role, scope.as_deref())?;
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty(),
        "--name is blank; name the token after its holder, e.g. crm-sync"
    );
    let token = new_token();
    store.add_token(&StoredToken {
        name: name.to_string(),
        role: role_name(role).to_string(),
        scope,
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
    let scope = Scope::column(
        args.role,
        args.scope.rep.as_deref(),
        args.scope.team.as_deref(),
    )?;
    let token = create_scoped_token(&mut store, &args.name, args.role, scope, &now)?;
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

/// The argon2id PHC string of `password` with a fresh random salt
/// (argon2's default parameters).
pub fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// Whether `password` matches the PHC string `phc`.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Shortest password `handoff user create` takes.
const MIN_PASSWORD: usize = 8;

/// Makes a dashboard user with a password, stores its argon2id hash.
pub fn create_user(
    store: &mut Store,
    name: &str,
    role: TokenRole,
    scope: Option<String>,
    password: &str,
    created_at: &str,
) -> Result<()> {
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty(),
        "--name is blank; give the name they sign in with"
    );
    anyhow::ensure!(
        password.chars().count() >= MIN_PASSWORD,
        "the password has {} characters; give at least {MIN_PASSWORD}",
        password.chars().count()
    );
    Scope::of(role, scope.as_deref())?;
    store.add_user(&StoredUser {
        name: name.to_string(),
        role: role_name(role).to_string(),
        scope,
        password_hash: hash_password(password)?,
        created_at: created_at.to_string(),
    })
}

/// Runs `handoff user create`: the password comes from --password-file or
/// the first line of standard input.
pub fn run_user_create(args: &UserCreateArgs) -> Result<u8> {
    let text = match &args.password_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading the password from {}", path.display()))?,
        None => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            line
        }
    };
    let password = text.lines().next().unwrap_or("").to_string();
    let db = Location::from_arg(&args.db)?;
    let mut store = Store::open_at(&db)?;
    let scope = Scope::column(
        args.role,
        args.scope.rep.as_deref(),
        args.scope.team.as_deref(),
    )?;
    let now = chrono::Utc::now().to_rfc3339();
    create_user(&mut store, &args.name, args.role, scope, &password, &now)?;
    eprintln!(
        "handoff: user {:?} (role {}) created in {}; they sign in at / with their name and \
         password",
        args.name.trim(),
        role_name(args.role),
        db
    );
    Ok(crate::cli::EXIT_OK)
}

/// The caller a stored token or user stands for.
pub fn caller_of(name: String, role: &str, scope: Option<&str>) -> Result<Caller, ApiError> {
    let role = TokenRole::from_str(role, false).map_err(|_| {
        ApiError::internal(anyhow::anyhow!(
            "{name:?} has unknown role {role:?} in the store"
        ))
    })?;
    let scope = Scope::of(role, scope)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("{name:?} in the store: {e}")))?;
    Ok(Caller { name, role, scope })
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
        caller_of(stored.name, &stored.role, stored.scope.as_deref())
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
            scope: Scope::All,
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
    fn passwords_verify_against_their_argon2id_hash_only() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("correct hors", &phc));
        assert!(!verify_password("correct horse", "not a phc string"));
        // A fresh salt each time: the same password hashes differently.
        assert_ne!(phc, hash_password("correct horse").unwrap());
    }

    #[test]
    fn a_rep_needs_a_rep_id_and_only_rep_and_manager_are_narrowed() {
        assert_eq!(
            Scope::of(TokenRole::Rep, Some("r1")).unwrap(),
            Scope::Rep("r1".into())
        );
        assert!(Scope::of(TokenRole::Rep, None).is_err());
        assert_eq!(Scope::of(TokenRole::Manager, None).unwrap(), Scope::All);
        assert_eq!(
            Scope::of(TokenRole::Manager, Some("east")).unwrap(),
            Scope::Team("east".into())
        );
        assert_eq!(
            Scope::of(TokenRole::Marketing, None).unwrap(),
            Scope::Marketing
        );
        assert!(Scope::column(TokenRole::Viewer, Some("r1"), None).is_err());
        assert!(Scope::column(TokenRole::Rep, None, Some("east")).is_err());
    }

    #[test]
    fn only_admin_manager_and_rep_may_act_on_accounts() {
        let caller = |role| Caller {
            name: "t".into(),
            role,
            scope: Scope::All,
        };
        assert!(caller(TokenRole::Admin).require(Action::Act).is_ok());
        assert!(caller(TokenRole::Manager).require(Action::Act).is_ok());
        assert!(caller(TokenRole::Rep).require(Action::Act).is_ok());
        assert!(caller(TokenRole::Marketing).require(Action::Act).is_err());
        assert!(caller(TokenRole::Ingest).require(Action::Act).is_err());
        assert!(caller(TokenRole::Viewer).require(Action::Act).is_err());
    }
}
