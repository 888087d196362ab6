//! `handoff demo`: a generated year in the store, then the scorecard.
use anyhow::Result;

use crate::cli::DemoArgs;

/// Runs `handoff demo`.
pub fn run_demo(_args: &DemoArgs) -> Result<u8> {
    anyhow::bail!("demo is being built")
}
