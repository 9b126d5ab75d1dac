//! bringup: restore services after a large outage, in the order a runbook gives, and keep a
//! tamper-evident timeline of everything done.

pub mod cli;
pub mod cmd;
pub mod demo;
pub mod driver;
pub mod engine;
pub mod exec;
pub mod export;
pub mod fold;
pub mod gather;
pub mod identity;
pub mod journal;
pub mod logfile;
pub mod notify;
pub mod outcome;
pub mod reach;
pub mod runbook;
pub mod session;
pub mod sites;
pub mod sshsig;
pub mod text;
pub mod tui;
pub mod witness;

pub use outcome::{Exit, RunOutcome};

/// The version recorded in every journal's `run_started`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
