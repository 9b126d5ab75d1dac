//! Every integration test in one binary (one link): the modules below, with the shared rigs in
//! `tests/support` and the fixed Pangyo journal in `tests/fixtures`.

#[path = "../fixtures/pangyo.rs"]
mod pangyo;
#[path = "../support/mod.rs"]
mod support;

mod cli_docs;
mod cli_validate;
mod demo_drills;
mod demo_runbook;
mod demo_svc;
mod drill_run;
mod drill_ssh;
mod drill_stop;
mod edges_leftovers;
mod edges_side_files;
mod etcd_access;
mod etcd_identity;
mod etcd_runtime;
mod etcd_shared;
mod etcd_sides;
mod etcd_store;
mod etcd_watch;
mod export_failures;
mod export_formats;
mod export_metrics;
mod export_notice;
mod export_scorecard;
mod export_status_scope;
mod journal_crash;
mod journal_crash_run;
mod journal_fixture;
mod journal_seal;
mod journal_tamper;
mod journal_writer;
mod local_transport;
mod log_terminal_safe;
mod mask_forms;
mod notify_redirect;
mod notify_webhook;
mod output_bytes;
mod preflight;
mod reach_socket;
mod report;
mod report_evidence;
mod resume_forced;
mod resume_handover;
mod resume_ssh;
mod run_agent;
mod run_groups;
mod run_journal;
mod run_outages;
mod run_prompt;
mod run_selection;
mod run_ssh;
mod runbook_schema;
mod safety_files;
mod safety_ssh;
mod safety_values;
mod ssh_jump_keys;
mod ssh_transport;
mod tui_e2e;
mod tui_host_key;
