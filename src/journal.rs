//! The timeline: an append-only, hash-chained JSON Lines journal, its writer, verifier and replay.

pub mod event;

pub use event::{CheckInfo, Event, ServiceInfo};
