//! The subcommands: each takes its parsed arguments and returns SPEC's exit code.
//! They wire the library together; logic lives in the modules they call.

pub mod attach;
pub mod docs;
pub mod export;
pub mod local;
pub mod open;
pub mod output;
pub mod plain;
pub mod preflight;
pub mod pull;
pub mod report;
pub mod run;
pub mod schema;
pub mod seal;
pub mod session;
pub mod shared;
pub mod undo;
pub mod validate;
pub mod verify;

/// SPEC's exit codes as `cmd/` writes them; the codes themselves are [`crate::Exit`].
pub const EXIT_OK: u8 = crate::Exit::AllUp.code();
pub const EXIT_NOT_ALL_UP: u8 = crate::Exit::NotAllUp.code();
pub const EXIT_BAD_INPUT: u8 = crate::Exit::BadInput.code();
pub const EXIT_INTERRUPTED: u8 = crate::Exit::Interrupted.code();
