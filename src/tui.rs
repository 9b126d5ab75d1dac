//! The terminal front end: pure UI state (`app`), keys as data (`keymap`), one `theme`, and
//! views that only read state. No IO here except in `terminal` (the driver's init/restore);
//! the event loop belongs to the driver (`cmd/open.rs`).
//!
//! Flow: the driver turns crossterm events into [`Action`]s with the [`Keymap`], hands them to
//! [`App::on_action`], and carries out the [`Command`]s it returns (engine inputs, journal
//! notes, host-key answers, quit). Engine views, journal events and step output are fed in with
//! `App::sync_services`, `App::on_journal` and `App::on_output`; `view::draw` paints a frame.

pub mod action;
pub mod app;
pub mod attach;
pub mod event_loop;
pub mod hint;
pub mod keymap;
pub mod output;
pub mod palette;
pub mod plain;
pub mod screen;
pub mod terminal;
pub mod theme;
pub mod timeline;
pub mod view;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod view_flow_tests;
#[cfg(test)]
mod view_tests;

pub use action::{Action, Command, Focus};
pub use app::{App, Attachment, HostKeyPrompt, Link, Overlay, RunInfo};
pub use keymap::{Context, Keymap};
pub use theme::Theme;
