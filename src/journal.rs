//! The timeline: an append-only, hash-chained JSON Lines journal, its writer, verifier and replay.
//! Reports made from a journal live in `export`; nothing here formats for people.

pub mod etcd;
pub mod event;
pub mod files;
pub mod mask;
pub mod record;
pub mod replay;
pub mod seal;
pub mod verify;
pub mod writer;

pub use event::{
    CheckInfo, DrillOutcome, DrillPhase, Event, OutputFile, RunbookAbout, ServiceInfo,
};
pub use files::JournalLock;
pub use record::{GENESIS, Record};
pub use replay::{Replay, RunbookMismatch, check_runbook, replay};
pub use verify::{
    Journal, Problem, ProblemKind, ReadError, Report, TornTail, first_record, read_journal, verify,
};
pub use writer::{
    Appended, Clock, Durability, JournalError, JournalWriter, ManualClock, SystemClock,
    default_path, side_dir,
};
