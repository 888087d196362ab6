//! Rebuild: replay the stored log through the engine.
use anyhow::Result;

use crate::cli::RebuildArgs;

/// Runs `handoff rebuild`.
pub fn run_rebuild(_args: &RebuildArgs) -> Result<u8> {
    anyhow::bail!("rebuild is being built")
}
