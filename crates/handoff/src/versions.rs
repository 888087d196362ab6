//! `handoff policy apply` and `handoff policy list`: the policy's versions
//! in the store.
//!
//! A version is recorded once, checked first with the same diagnostics as
//! `handoff check`; applying the text of the latest version again records
//! nothing. Versions only move forward: one may not take effect before the
//! latest, so nothing recorded under an older version is re-decided. After
//! a new version the derived state is rebuilt under all of them.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::cli::{PolicyApplyArgs, PolicyListArgs, PolicyListFormat, EXIT_OK};
use crate::replay::{parse_policy, rebuild, DEFAULT_POLICY};
use crate::report::Table;
use crate::store::{Location, NewPolicyVersion, Store, VersionOutcome};

/// The name a store's policy gets when `policy apply` makes it version 1
/// ahead of a first version with an effective instant.
pub const BEFORE_VERSIONS: &str = "in use before versions (recorded by import or rebuild)";

/// Runs `handoff policy apply`.
pub fn run_apply(args: &PolicyApplyArgs) -> Result<u8> {
    let db = Location::from_arg(&args.db)?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading policy {}", args.file.display()))?;
    let name = args.file.display().to_string();
    // The diagnostics of `handoff check`: nothing unchecked is stored.
    parse_policy(&text, &name)?;
    let now = Utc::now();
    let effective = match args.effective.as_deref() {
        None | Some("now") => None,
        Some(t) => Some(parse_instant(t)?),
    };
    let by = args
        .by
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".to_string());
    let mut store = Store::open_at(&db).with_context(|| format!("opening {db}"))?;
    let outcome = apply(&mut store, &text, &name, effective, &by, now)?;
    match outcome {
        VersionOutcome::Unchanged(n) => {
            eprintln!("handoff: {name} is already policy v{n} (same text); nothing recorded");
            return Ok(EXIT_OK);
        }
        VersionOutcome::Recorded(n) => {
            let row = store
                .policy_versions()?
                .into_iter()
                .find(|r| r.number == n)
                .context("reading back the version just recorded")?;
            eprintln!(
                "handoff: recorded {name} as policy v{n} (sha256 {}), in force from {}",
                &row.sha256[..12],
                row.effective_at.map_or("the beginning".to_string(), |t| t
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            );
        }
    }
    if store.event_count()? > 0 {
        let s = rebuild(&mut store, None).context(
            "the version is recorded, but rebuilding the derived state failed; fix the \
             cause and run `handoff rebuild`",
        )?;
        eprintln!(
            "handoff: rebuilt {} accounts from {} events under the versions: {} alerts",
            s.accounts, s.events, s.alerts
        );
    }
    Ok(EXIT_OK)
}

/// Records `text` as the next version, in force from `effective` (`None`:
/// now, or from the beginning for a store's first version). A store
/// without versions whose first version begins at an instant gets the
/// policy it used until then (the one last used, else the built-in
/// default) as version 1 from the beginning, so the history before the
/// instant keeps being judged as it was.
pub fn apply(
    store: &mut Store,
    text: &str,
    name: &str,
    effective: Option<DateTime<Utc>>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<VersionOutcome> {
    let first = store.policy_versions()?.is_empty();
    if first {
        if let Some(at) = effective {
            let before = store
                .policy_text()?
                .unwrap_or_else(|| DEFAULT_POLICY.to_string());
            if before != text {
                parse_policy(&before, "in use before versions")?;
                store.add_policy_version(&NewPolicyVersion {
                    effective_at: None,
                    name: BEFORE_VERSIONS,
                    text: &before,
                    applied_by: by,
                    recorded_at: now,
                })?;
                tracing::info!(%at, "the policy in use so far recorded as version 1");
            }
        }
    }
    let effective_at = match effective {
        Some(t) => Some(t),
        None if first => None,
        None => Some(now),
    };
    store.add_policy_version(&NewPolicyVersion {
        effective_at,
        name,
        text,
        applied_by: by,
        recorded_at: now,
    })
}

fn parse_instant(t: &str) -> Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(t)
        .with_context(|| {
            format!(
                "--effective {t:?}: write an RFC 3339 instant, e.g. 2026-06-01T00:00:00Z, or `now`"
            )
        })?
        .with_timezone(&Utc))
}

/// Runs `handoff policy list`.
pub fn run_list(args: &PolicyListArgs) -> Result<u8> {
    let db = Location::from_arg(&args.db)?;
    let store = crate::replay::open_existing(&db)?;
    let rows = store.policy_versions()?;
    let out = match args.format {
        PolicyListFormat::Json => {
            let list: Vec<_> = rows
                .iter()
                .map(|r| {
                    json!({
                        "number": r.number,
                        "effective_at": r.effective_at,
                        "name": r.name,
                        "sha256": r.sha256,
                        "applied_by": r.applied_by,
                        "recorded_at": r.recorded_at,
                    })
                })
                .collect();
            serde_json::to_string_pretty(&list)? + "\n"
        }
        PolicyListFormat::Table if rows.is_empty() => {
            "No policy versions; replays use --policy, else the policy last used. Record one \
             with `handoff policy apply FILE`.\n"
                .to_string()
        }
        PolicyListFormat::Table => {
            let mut t = Table::new(&[
                "version",
                "in force from",
                "file",
                "sha256",
                "applied by",
                "recorded",
            ]);
            for r in &rows {
                t.push(vec![
                    format!("v{}", r.number),
                    r.effective_at.map_or("the beginning".to_string(), |t| {
                        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    }),
                    r.name.clone(),
                    r.sha256[..12].to_string(),
                    r.applied_by.clone(),
                    r.recorded_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                ]);
            }
            let mut out = String::new();
            t.render(false, &mut out);
            out
        }
    };
    print!("{out}");
    Ok(EXIT_OK)
}
