//! Shared test support for the one integration test binary (`tests/it/main.rs` includes it as
//! `crate::support`); benches include it by path.
#![allow(dead_code)]

pub mod agent;
pub mod drill;
pub mod etcd;
pub mod events;
pub mod local;
pub mod procs;
pub mod rig;
pub mod run;
pub mod sshd;
pub mod tmpfs;
pub mod tmux;
pub mod tools;
pub mod wait;
