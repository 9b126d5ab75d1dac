//! The subcommands: each takes its parsed arguments and returns SPEC's exit code.
//! They wire the library together; logic lives in the modules they call.

pub mod docs;
pub mod export;
pub mod open;
pub mod run;
pub mod schema;
pub mod session;
pub mod validate;
pub mod verify;

/// SPEC's exit codes.
pub const EXIT_OK: u8 = 0;
pub const EXIT_NOT_ALL_UP: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
pub const EXIT_INTERRUPTED: u8 = 3;
