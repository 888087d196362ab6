//! `handoff report`: the scorecard.
use anyhow::Result;

use crate::cli::ReportArgs;

/// Runs `handoff report`.
pub fn run(_args: &ReportArgs) -> Result<u8> {
    anyhow::bail!("report is being built")
}
