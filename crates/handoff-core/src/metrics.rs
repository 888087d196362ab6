//! The scorecard.
