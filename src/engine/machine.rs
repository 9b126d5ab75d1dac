//! The run engine: a pure state machine over a validated runbook and its plan.
//! `handle(Input) -> Vec<Effect>`; no IO, no clock, no async.

use std::collections::BTreeSet;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::engine::effect::Effect;
use crate::engine::event::{Input, ResumeFacts};
use crate::engine::state::ServiceView;
use crate::runbook::model::{Runbook, ServiceId};

/// Options fixed for the whole run.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// `--only`: restrict the run to these services (empty: all).
    pub only: BTreeSet<ServiceId>,
    /// `--check-only`: never restore.
    pub check_only: bool,
}

pub struct Engine {
    runbook: Arc<Runbook>,
    options: EngineOptions,
    services: IndexMap<ServiceId, ServiceView>,
}

impl Engine {
    pub fn new(runbook: Arc<Runbook>, options: EngineOptions) -> Self {
        let services = runbook
            .services
            .iter()
            .map(|s| (s.id.clone(), ServiceView::default()))
            .collect();
        Self {
            runbook,
            options,
            services,
        }
    }

    /// Continue from a journal: states and successful restore steps are taken as recorded.
    pub fn resume(&mut self, facts: &ResumeFacts) -> Vec<Effect> {
        let _ = facts;
        Vec::new()
    }

    pub fn handle(&mut self, input: Input) -> Vec<Effect> {
        let _ = (input, &self.runbook, &self.options);
        todo!("engine machine")
    }

    pub fn runbook(&self) -> &Runbook {
        &self.runbook
    }

    /// Every service, in runbook order, with what a front end needs to draw it.
    pub fn services(&self) -> &IndexMap<ServiceId, ServiceView> {
        &self.services
    }

    pub fn service(&self, id: &ServiceId) -> Option<&ServiceView> {
        self.services.get(id)
    }
}
