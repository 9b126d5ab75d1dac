//! Shared test support: include with `mod support;` from a file under `tests/`.
//! (`tests/support/mod.rs`, not `tests/support.rs`, so cargo does not build it as a test.)
#![allow(dead_code)]

pub mod agent;
pub mod drill;
pub mod etcd;
pub mod events;
pub mod local;
pub mod procs;
pub mod run;
pub mod sshd;
pub mod wait;
