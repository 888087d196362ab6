//! `handoff explain`: one account's story from the store.
use anyhow::Result;

use crate::cli::ExplainArgs;

/// Runs `handoff explain`.
pub fn run(_args: &ExplainArgs) -> Result<u8> {
    anyhow::bail!("explain is being built")
}
