//! The steps pane's folded hosts, `clush -b` style: under each step on more than
//! [`crate::gather::FOLD_ABOVE`] hosts, hosts whose status reads
//! the same (running, ok with exit 0, failed with exit 1, …) and whose output is identical
//! after masking share one row (`crate::gather`), in the order of their first host; a host
//! that differs has its own row. `g` shows every host apart again, keeping the selection on
//! the host whose output was shown.

use super::{App, HostsShown, StepRow, StepsShown};
use crate::engine::state::{HostStatus, StepOutcome, StepRef};
use crate::gather::Fingerprint;
use crate::runbook::model::HostId;

/// A host's status as the pane reads it: attempts and durations differ between hosts that
/// did the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Stands {
    Pending,
    Running,
    RetryWait,
    Finished(StepOutcome, Option<i32>),
    NotRun,
}

impl Stands {
    fn of(status: Option<&HostStatus>) -> Stands {
        match status {
            None | Some(HostStatus::Pending) => Stands::Pending,
            Some(HostStatus::Running { .. }) => Stands::Running,
            Some(HostStatus::RetryWait { .. }) => Stands::RetryWait,
            Some(HostStatus::Finished {
                outcome, exit_code, ..
            }) => Stands::Finished(*outcome, *exit_code),
            Some(HostStatus::NotRun) => Stands::NotRun,
        }
    }
}

impl App {
    /// The rows of one step's hosts: folded into groups, or (unfolded, or one host) each.
    pub(super) fn host_rows(&self, rows: &mut Vec<StepRow>, step: &StepRef, hosts: &[HostId]) {
        if self.hosts_shown == HostsShown::Each || hosts.len() <= crate::gather::FOLD_ABOVE {
            rows.extend(hosts.iter().map(|h| StepRow::Host(step.clone(), h.clone())));
            return;
        }
        let statuses = self
            .services
            .get(&step.service)
            .and_then(|v| v.steps.get(step));
        let prints = self.output.fingerprints(step);
        let key = |host: &HostId| -> (Stands, Option<&Fingerprint>) {
            (
                Stands::of(statuses.and_then(|s| s.get(host))),
                prints.and_then(|p| p.get(host)),
            )
        };
        let groups = crate::gather::gather(hosts.iter().map(|h| (h, key(h))));
        rows.extend(groups.into_iter().map(|g| match g.hosts.as_slice() {
            [one] => StepRow::Host(step.clone(), (*one).clone()),
            _ => StepRow::Group(step.clone(), g.hosts.into_iter().cloned().collect()),
        }));
    }

    /// `g`: fold hosts into groups, or show them apart; the selected host stays selected.
    pub(super) fn toggle_fold(&mut self) {
        let rows = self.step_rows();
        let at = rows
            .get(self.selected_step_row())
            .and_then(|r| Some((r.step().clone(), r.host()?.clone())));
        self.hosts_shown = match self.hosts_shown {
            HostsShown::Folded => HostsShown::Each,
            HostsShown::Each => HostsShown::Folded,
        };
        // The host whose output was shown stays selected (a group shows its first host's):
        // the operator chose this view of the pane, so it no longer follows the running step.
        let rows = self.step_rows();
        let same = at.and_then(|(step, host)| rows.iter().position(|r| r.shows(&step, &host)));
        if let Some(i) = same {
            self.step_sel = i;
            self.steps_shown = StepsShown::Chosen;
        }
        self.clamp_step_sel();
        self.message = Some(match self.hosts_shown {
            HostsShown::Folded => "hosts alike folded: g shows each".into(),
            HostsShown::Each => "every host apart: g folds hosts alike".into(),
        });
    }

    /// The selected row's hosts when it is a folded group (the output pane shows their one
    /// output, and says whose it is).
    pub fn output_group(&self) -> Option<Vec<HostId>> {
        match self.step_rows().get(self.selected_step_row())? {
            StepRow::Group(_, hosts) => Some(hosts.clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use indexmap::IndexMap;

    use super::*;
    use crate::engine::state::{Mode, Phase, ServiceState, ServiceView};
    use crate::runbook::model::ServiceId;
    use crate::tui::action::Action;
    use crate::tui::testkit::{self, finished, sref};

    fn names(from: u32, to: u32) -> Vec<String> {
        (from..=to).map(|i| format!("h{i:02}")).collect()
    }

    /// One service on h01…h32 whose restore printed `mounted /data` and exited 0 on 30
    /// hosts, `disk full` with exit 1 on h07, and exit 0 with other words on h19.
    pub(crate) fn fleet() -> App {
        let hosts = names(1, 32);
        let refs: Vec<&str> = hosts.iter().map(String::as_str).collect();
        let mut rb = testkit::runbook();
        let mut fleet = testkit::service("fleet", "A fleet of 32", 1, Some(30), &refs);
        fleet.restores = vec![testkit::step("mount data", "mount /data", &refs)];
        rb.services = vec![fleet];
        let mut app = App::new(Arc::new(rb), testkit::info(Mode::Incident));
        let step = sref("fleet", Phase::Restore, 0);
        let mut statuses = IndexMap::new();
        for h in &hosts {
            let host = HostId::new(h.as_str());
            let (status, said) = match h.as_str() {
                "h07" => (finished(StepOutcome::Failed, 1, 1, 900), "disk full\n"),
                "h19" => (
                    finished(StepOutcome::Ok, 0, 1, 700),
                    "mounted /data (degraded)\n",
                ),
                _ => (finished(StepOutcome::Ok, 0, 1, 800), "mounted /data\n"),
            };
            statuses.insert(host.clone(), status);
            // Chunks cut in different places: the same output all the same.
            let (a, b) = said.split_at(if h.ends_with('2') { 3 } else { 5 });
            app.on_output(&step, &host, a);
            app.on_output(&step, &host, b);
        }
        let mut view = ServiceView {
            state: ServiceState::Failed,
            reason: Some("restore step 'mount data' failed on 'h07'".into()),
            ..ServiceView::default()
        };
        view.steps.insert(step, statuses);
        let views: IndexMap<ServiceId, ServiceView> =
            [(ServiceId::new("fleet"), view)].into_iter().collect();
        app.tick(Duration::from_secs(60));
        app.sync_services(&views);
        app
    }

    fn host_rows(app: &App) -> Vec<StepRow> {
        app.step_rows()
            .into_iter()
            .filter(|r| r.step().phase == Phase::Restore)
            .skip(1)
            .collect()
    }

    #[test]
    fn hosts_alike_share_a_row_and_those_that_differ_stand_apart() {
        let app = fleet();
        let rows = host_rows(&app);
        let step = sref("fleet", Phase::Restore, 0);
        let mut alike: Vec<HostId> = names(1, 32)
            .into_iter()
            .filter(|h| h != "h07" && h != "h19")
            .map(HostId::new)
            .collect();
        alike.sort();
        assert_eq!(
            rows,
            [
                StepRow::Group(step.clone(), alike),
                StepRow::Host(step.clone(), HostId::new("h07")),
                StepRow::Host(step, HostId::new("h19")),
            ]
        );
    }

    #[test]
    fn g_shows_every_host_apart_and_folds_again_keeping_the_selected_host() {
        let mut app = fleet();
        app.focus = crate::tui::action::Focus::Steps;
        // Select h07's row, the failure.
        while app
            .step_rows()
            .get(app.selected_step_row())
            .and_then(StepRow::host)
            .is_none_or(|h| h.as_str() != "h07")
        {
            app.on_action(Action::Down);
        }
        app.on_action(Action::Fold);
        assert_eq!(host_rows(&app).len(), 32);
        assert!(
            host_rows(&app)
                .iter()
                .all(|r| matches!(r, StepRow::Host(..)))
        );
        let selected = app.step_rows()[app.selected_step_row()].clone();
        assert_eq!(selected.host().map(HostId::as_str), Some("h07"));
        app.on_action(Action::Fold);
        assert_eq!(host_rows(&app).len(), 3);
        let selected = app.step_rows()[app.selected_step_row()].clone();
        assert_eq!(selected.host().map(HostId::as_str), Some("h07"));
    }

    #[test]
    fn the_folded_steps_pane_names_each_group_with_its_count() {
        for (w, h) in [(80, 24), (120, 40)] {
            let mut app = fleet();
            // The steps pane, on the group that restored alike: the output is theirs.
            app.on_action(Action::NextPane);
            for _ in 0..3 {
                app.on_action(Action::Down);
            }
            let text = testkit::render(&mut app, w, h);
            insta::assert_snapshot!(format!("folded_steps_pane_{w}x{h}"), text);
        }
    }
}
