//! The App's navigation: rows of services by tier, selection, scrolling, mouse hits.

use super::{
    App, BottomMode, Focus, HostStatus, Position, Row, Scroll, ServiceState, StepOutcome,
    StepsShown,
};

impl App {
    pub(super) fn rebuild_rows(&mut self) {
        let q = self.filter.to_lowercase();
        let mut order: Vec<usize> = (0..self.runbook.services.len())
            .filter(|&i| q.is_empty() || self.matches(i, &q))
            .collect();
        order.sort_by_key(|&i| self.runbook.services[i].tier);
        self.rows.clear();
        let mut tier = None;
        for i in order {
            let t = self.runbook.services[i].tier;
            if tier != Some(t) {
                self.rows.push(Row::Tier(t));
                tier = Some(t);
            }
            self.rows.push(Row::Service(i));
        }
        let still = self
            .selected
            .is_some_and(|s| self.rows.contains(&Row::Service(s)));
        if !still {
            let first = self.rows.iter().find_map(|r| match r {
                Row::Service(i) => Some(*i),
                Row::Tier(_) => None,
            });
            self.select(first);
        }
    }

    pub(super) fn matches(&self, i: usize, q: &str) -> bool {
        let s = &self.runbook.services[i];
        let state = self
            .services
            .get(&s.id)
            .map(|v| v.state.as_str())
            .unwrap_or_default();
        s.id.as_str().to_lowercase().contains(q)
            || s.name.to_lowercase().contains(q)
            || state.contains(q)
    }

    pub(super) fn select(&mut self, service: Option<usize>) {
        if self.selected != service {
            self.selected = service;
            self.step_sel = self.telling_row();
            self.steps_shown = StepsShown::Following;
            self.output_scroll = Scroll::default();
        }
        self.keep_selection_visible();
    }

    /// The step row to land on when a service is selected: for a service that is not up, the
    /// last host result that went wrong (its output says why); otherwise the first row.
    pub(super) fn telling_row(&self) -> usize {
        let Some(view) = self
            .selected_service()
            .and_then(|s| self.services.get(&s.id))
        else {
            return 0;
        };
        if !matches!(
            view.state,
            ServiceState::Down | ServiceState::Partial | ServiceState::Failed
        ) {
            return 0;
        }
        self.step_rows()
            .iter()
            .rposition(|row| {
                row.host().is_some_and(|host| {
                    matches!(
                        view.steps.get(row.step()).and_then(|h| h.get(host)),
                        Some(HostStatus::Finished { outcome, .. }) if *outcome != StepOutcome::Ok
                    )
                })
            })
            .unwrap_or(0)
    }

    pub(super) fn keep_selection_visible(&mut self) {
        let rows = self.list_rows(self.hits.tiers);
        let Some(pos) = self
            .selected
            .and_then(|s| rows.iter().position(|r| *r == Row::Service(s)))
        else {
            self.services_top = 0;
            return;
        };
        if self.hits.services.height == 0 {
            // Not drawn yet: the view keeps the selection in sight from the top.
            return;
        }
        let height = usize::from(self.hits.services.height);
        if pos < self.services_top {
            // Show the tier heading above the first service of a tier.
            self.services_top = if pos > 0 && matches!(rows[pos - 1], Row::Tier(_)) {
                pos - 1
            } else {
                pos
            };
        } else if pos >= self.services_top + height {
            self.services_top = pos + 1 - height;
        }
    }

    pub(super) fn move_by(&mut self, delta: isize) {
        match self.focus {
            Focus::Services => {
                let services: Vec<usize> = self
                    .rows
                    .iter()
                    .filter_map(|r| match r {
                        Row::Service(i) => Some(*i),
                        Row::Tier(_) => None,
                    })
                    .collect();
                if services.is_empty() {
                    return;
                }
                let cur = self
                    .selected
                    .and_then(|s| services.iter().position(|&i| i == s))
                    .unwrap_or(0);
                let next = cur.saturating_add_signed(delta).min(services.len() - 1);
                self.select(Some(services[next]));
            }
            Focus::Steps => {
                let n = self.step_rows().len();
                self.step_sel = self.selected_step_row();
                self.steps_shown = StepsShown::Chosen;
                let next = self
                    .step_sel
                    .saturating_add_signed(delta)
                    .min(n.saturating_sub(1));
                if next != self.step_sel {
                    self.step_sel = next;
                    self.output_scroll = Scroll::default();
                }
            }
            Focus::Bottom => {
                let (len, h) = (self.bottom_len(), self.page());
                self.scroll_mut().by(delta, len, h);
            }
        }
    }

    pub(super) fn clamp_step_sel(&mut self) {
        let n = self.step_rows().len();
        self.step_sel = self.step_sel.min(n.saturating_sub(1));
    }

    pub(super) fn page(&self) -> usize {
        usize::from(self.hits.bottom.height).max(1)
    }

    /// Lines in what the bottom pane shows now.
    pub fn bottom_len(&self) -> usize {
        match self.bottom {
            BottomMode::Timeline => self.timeline.len(),
            BottomMode::Output => self
                .output_target()
                .and_then(|(s, h)| {
                    self.output
                        .get(&s, &h)
                        .map(crate::tui::output::OutputBuffer::len)
                })
                .unwrap_or(0),
        }
    }

    pub(super) fn scroll_mut(&mut self) -> &mut Scroll {
        match self.bottom {
            BottomMode::Output => &mut self.output_scroll,
            BottomMode::Timeline => &mut self.timeline_scroll,
        }
    }

    pub(super) fn scroll_page(&mut self, down: bool) {
        let (len, h) = (self.bottom_len(), self.page());
        let delta = isize::try_from(h).unwrap_or(isize::MAX);
        self.scroll_mut()
            .by(if down { delta } else { -delta }, len, h);
    }

    pub(super) fn click(&mut self, column: u16, row: u16) {
        let p = Position::new(column, row);
        let hits = self.hits;
        if hits.services.contains(p) {
            self.focus = Focus::Services;
            let i = hits.services_top + usize::from(row - hits.services.y);
            if let Some(Row::Service(s)) = self.list_rows(hits.tiers).get(i) {
                self.select(Some(*s));
            }
        } else if hits.steps.contains(p) {
            self.focus = Focus::Steps;
            let i = hits.steps_top + usize::from(row - hits.steps.y);
            if i < self.step_rows().len() {
                self.steps_shown = StepsShown::Chosen;
            }
            if i < self.step_rows().len() && i != self.step_sel {
                self.step_sel = i;
                self.output_scroll = Scroll::default();
            }
        } else if hits.bottom.contains(p) {
            self.focus = Focus::Bottom;
        }
    }

    pub(super) fn wheel(&mut self, column: u16, row: u16, down: bool) {
        let p = Position::new(column, row);
        let hits = self.hits;
        let focus = if hits.services.contains(p) {
            Focus::Services
        } else if hits.steps.contains(p) {
            Focus::Steps
        } else if hits.bottom.contains(p) {
            Focus::Bottom
        } else {
            return;
        };
        let saved = std::mem::replace(&mut self.focus, focus);
        let step = if focus == Focus::Bottom { 3 } else { 1 };
        self.move_by(if down { step } else { -step });
        self.focus = saved;
    }
}
